"""Reading import files as Swedish Excel writes them, and planning their rows: pure, no services."""

from __future__ import annotations

import io
from datetime import datetime

import pytest
from openpyxl import Workbook as XlsxBook

from sprakvan_importer import prepare, read_file, vocabularies
from sprakvan_importer.cells import CellError, clock, moment, number
from sprakvan_importer.kinds import KINDS
from sprakvan_importer.reading import Workbook, read_path
from sprakvan_importer.writing import Table, csv_bytes, template, write, xlsx_bytes

CONFIGURATION = {
    "programmes": [{"code": "sprakvan", "labels": {"sv": "Språkvän", "en": "Language friends"}}],
    "districts": [
        {"code": "skaggetorp", "labels": {"sv": "Skäggetorp", "en": "Skäggetorp"}},
        {"code": "innerstaden", "labels": {"sv": "Innerstaden", "en": "City centre"}},
    ],
    "interests": [
        {"code": "fika", "labels": {"sv": "Fika", "en": "Coffee and cake"}},
        {"code": "walks", "labels": {"sv": "Promenader", "en": "Walks"}},
    ],
    "campaigns": [],
}
KNOWN = vocabularies(CONFIGURATION)

SV_HEADERS = "nyckel;roll;program;förnamn;efternamn;e-post;kön;födelseår;stadsdel;språk;intressen;tider;registrerad"
EN_HEADERS = ";".join(
    ["key", "role", "programme", "first name", "last name", "email", "gender", "birth year", "district", "languages"]
    + ["interests", "availability", "registered"]
)
ROWS = [
    "n1;Nyanländ;Språkvän;Amina;Haddad;a@example.org;Kvinna;1991;Skäggetorp;ar:modersmål, sv:grundläggande;"
    "Fika, promenader;tisdag:kväll;2024-03-05",
    "e1;etablerad;sprakvan;Karin;Lind;k@example.org;kvinna;1962; skaggetorp ;sv:native;walks;mån:fm;2024-03-05 18:00",
]


def csv_file(*lines: str, bom: bool = True, encoding: str = "utf-8") -> bytes:
    return (b"\xef\xbb\xbf" if bom else b"") + "\r\n".join(lines).encode(encoding) + b"\r\n"


def planned_fields(workbook: Workbook, kind: str = "participants") -> dict[str, dict]:
    plan = prepare(workbook, KNOWN)
    assert not plan.kinds[kind].refused, plan.kinds[kind].refused
    return {r.key: r.fields for r in plan.kinds[kind].rows}


def test_a_swedish_excel_csv_is_read_with_bom_semicolons_and_swedish_labels():
    fields = planned_fields(read_file("deltagare.csv", csv_file(SV_HEADERS, *ROWS)))
    assert fields["n1"] == {
        "role": "newcomer", "programme": "sprakvan", "first_name": "Amina", "last_name": "Haddad",
        "email": "a@example.org", "gender": "woman", "birth_year": 1991, "district": "skaggetorp",
        "languages": [{"code": "ar", "level": "native"}, {"code": "sv", "level": "basic"}],
        "interests": ["fika", "walks"], "availability": [{"weekday": "tue", "part_of_day": "evening"}],
        "registered_on": "2024-03-05",
    }  # fmt: skip
    assert fields["e1"]["registered_on"] == "2024-03-05T18:00:00+01:00"  # local time, with its offset
    assert fields["e1"]["district"] == "skaggetorp"


def test_english_headers_and_a_csv_without_bom_in_windows_1252_give_the_same_rows():
    swedish = planned_fields(read_file("deltagare.csv", csv_file(SV_HEADERS, *ROWS)))
    english = planned_fields(read_file("participants.csv", csv_file(EN_HEADERS, *ROWS, bom=False, encoding="cp1252")))
    assert english == swedish


def test_an_xlsx_with_typed_cells_gives_the_same_rows_as_the_csv():
    book = XlsxBook()
    sheet = book.active
    sheet.title = "Deltagare"
    sheet.append(SV_HEADERS.split(";"))
    for line in ROWS:
        cells: list = line.split(";")
        cells[7] = float(cells[7])  # Excel keeps numbers as floats
        cells[12] = datetime.fromisoformat(cells[12])  # and dates as datetimes (midnight for a date)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    from_xlsx = planned_fields(read_file("history.xlsx", out.getvalue()))
    assert from_xlsx == planned_fields(read_file("deltagare.csv", csv_file(SV_HEADERS, *ROWS)))


def test_cells_take_decimal_commas_local_times_and_refuse_nonsense_without_quoting_it():
    assert number("1 234,5") == 1234.5 and number("\u00a0477\u00a0600") == 477600
    assert moment("2024-07-01 18:30") == "2024-07-01T18:30:00+02:00"  # summer time
    assert moment("2024-03-05T17:00:00Z") == "2024-03-05T17:00:00+00:00"
    assert clock("18.00") == "18:00" and clock(datetime(2024, 1, 1, 9, 5)) == "09:05"
    with pytest.raises(CellError) as refused:
        moment("5 mars 2024 secret")
    assert "secret" not in str(refused.value)


def test_codes_are_mapped_case_diacritics_and_whitespace_insensitively_and_unmapped_values_listed_once():
    rows = [
        "n1;nyanländ;sprakvan;A;B;a@example.org;woman;1990;SKÄGGETORP;;coffee and cake;;2024-01-10",
        "n2;nyanländ;sprakvan;A;B;a@example.org;woman;1990;Gottfridsberg;;;;2024-01-11",
        "n3;nyanländ;sprakvan;A;B;a@example.org;woman;1990;gottfridsberg ;;;;2024-01-12",
        "n4;nyanländ;sprakvan;A;B;a@example.org;woman;1990;City Centre;;Schack;;2024-01-13",
    ]
    plan = prepare(read_file("deltagare.csv", csv_file(SV_HEADERS, *rows)), KNOWN)
    participants = plan.kinds["participants"]
    assert {r.key: r.fields["district"] for r in participants.rows} == {"n1": "skaggetorp"}
    assert participants.rows[0].fields["interests"] == ["fika"]
    refused = {(p.row, p.column, p.code) for p in participants.refused}
    assert refused == {
        (3, "stadsdel", "unknown_code"),
        (4, "stadsdel", "unknown_code"),
        (5, "intressen", "unknown_code"),
    }
    listed = {(u.vocabulary, u.value, tuple(u.rows)) for u in plan.unmapped}
    assert listed == {("districts", "Gottfridsberg", (3, 4)), ("interests", "Schack", (5,))}


def test_rows_that_need_a_refused_row_are_held_back_naming_their_column(tmp_path):
    write(
        [
            Table("deltagare", ["nyckel", "roll", "program", "stadsdel", "registrerad"],
                  [["n1", "nyanländ", "sprakvan", "skaggetorp", "2024-02-01"],
                   ["n2", "nyanländ", "sprakvan", "nowhere", "2024-02-01"],
                   ["e1", "etablerad", "sprakvan", "innerstaden", "2024-02-01"]]),
            Table("par", ["nyckel", "program", "nyanländ", "etablerad", "bildat"],
                  [["p1", "sprakvan", "n1", "e1", "2024-03-01"], ["p2", "sprakvan", "n2", "e1", "2024-03-01"]]),
            Table("aktiviteter", ["nyckel", "titel", "typ", "stadsdel"],
                  [["a1", "Språkcafé", "language_cafe", "mars"]]),
            Table("tillfällen", ["nyckel", "aktivitet", "datum", "börjar", "slutar"],
                  [["o1", "a1", "2024-03-05", "18:00", "20:00"]]),
            Table("närvaro", ["nyckel", "tillfälle", "deltagare", "utfall"], [["c1", "o1", "n1", "kom"]]),
        ],
        tmp_path / "file",
    )  # fmt: skip
    plan = prepare(read_path(tmp_path / "file"), KNOWN)
    assert [r.key for r in plan.kinds["pairs"].rows] == ["p1"]
    assert plan.kinds["pairs"].rows[0].participants == {"newcomer_id": "n1", "established_id": "e1"}
    (held,) = plan.kinds["pairs"].refused
    assert (held.row, held.column, held.code) == (3, "nyanländ", "depends_on_refused")
    assert [(p.key, p.column, p.code) for p in plan.kinds["occurrences"].refused] == [
        ("o1", "aktivitet", "depends_on_refused")
    ]
    assert [(p.key, p.code) for p in plan.kinds["attendance"].refused] == [("c1", "depends_on_refused")]


def test_a_service_error_field_is_shown_as_the_files_column():
    plan = prepare(
        read_file(
            "participants.csv",
            csv_file("key;role;programme;age from;languages;registered", "n;newcomer;sprakvan;20;ar:fluent;2024-01-01"),
        ),
        KNOWN,
    )
    participants = plan.kinds["participants"]
    assert participants.rows[0].fields["wishes"] == {"age_min": 20}
    assert participants.column_of("wishes.age_min") == "age from"
    assert participants.column_of("languages.0.code") == "languages"
    assert participants.column_of("body.rows.3.role") == "role"


def test_templates_in_both_languages_read_back_as_every_kind_and_formula_cells_stay_text(tmp_path):
    for language in ("sv", "en"):
        workbook = read_file("t.xlsx", xlsx_bytes(template(language)))
        assert len(workbook.sheets) == len(KINDS) and workbook.ignored_sheets == [
            {"sv": "anvisningar", "en": "instructions"}[language]
        ]
    table = Table("venues", ["key", "name", "district"], [["v1", "=HYPERLINK(1)", "skaggetorp"]])
    for data, name in ((csv_bytes(table), "venues.csv"), (xlsx_bytes([table]), "venues.xlsx")):
        plan = prepare(read_file(name, data), KNOWN)
        assert plan.kinds["venues"].rows[0].fields["name"] == "=HYPERLINK(1)"


def test_the_cli_writes_templates_that_read_back_and_refuses_a_file_without_known_sheets(tmp_path, capsys):
    from sprakvan_cli.main import main

    assert main(["import", "--template", "en", "--out", str(tmp_path / "template.xlsx")]) == 0
    assert main(["import", "--template", "sv", "--out", str(tmp_path / "mall")]) == 0
    swedish = read_path(tmp_path / "mall")
    assert set(swedish.sheets) == {k.name for k in KINDS}
    assert swedish.sheets["participants"].headers[:3] == ["nyckel", "roll", "program"]
    assert read_file("template.xlsx", (tmp_path / "template.xlsx").read_bytes()).sheets["pairs"].name == "pairs"
    (tmp_path / "notes.csv").write_bytes(csv_file("a;b", "1;2"))
    assert main(["import", str(tmp_path / "notes.csv"), "--org", "linkoping"]) == 1
    assert "no sheet of a known kind" in capsys.readouterr().err


def test_only_a_participant_the_service_has_not_heard_of_yet_is_waited_for_and_a_dry_run_assumes_its_own_rows():
    from sprakvan_importer.plan import Planned
    from sprakvan_importer.run import _assumed_in_dry_run, _State, _waits_for_participant

    refers = {"participants": {"participant_id": "n1"}, "keys": {"occurrence_key": ("occurrences", "o1")}}
    planned = Planned(2, "c1", {}, **refers)
    state = _State(dry_run=False, ids={"participants": {"n1": "id-1"}})
    waiting = [{"field": "participant_id", "code": "unknown_reference", "message": "not known yet"}]
    assert _waits_for_participant(planned, waiting, state)
    invalid = {"field": "outcome", "code": "invalid", "message": ""}
    assert not _waits_for_participant(planned, [*waiting, invalid], state)
    assert not _waits_for_participant(planned, [{**waiting[0], "field": "occurrence_key"}], state)
    assert not _waits_for_participant(planned, waiting, _State(dry_run=False))  # intake refused or never saw n1
    dry = _State(dry_run=True, ids={"participants": {"n1": "id-1"}}, would_create={"occurrences": {"o1"}})
    assert _assumed_in_dry_run(planned, [{**waiting[0], "field": "occurrence_key"}], dry)
    assert not _assumed_in_dry_run(planned, waiting, dry)  # n1 exists already: its refusal is real
    assert not _assumed_in_dry_run(planned, [{**waiting[0], "field": "occurrence_key"}], state)


def _with_sheet_xml(sheet_xml: bytes) -> bytes:
    """A real workbook whose first sheet's XML is replaced (deflated, as Excel writes it)."""
    import zipfile

    original = zipfile.ZipFile(io.BytesIO(xlsx_bytes([Table("deltagare", ["nyckel"], [["n1"]])])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as crafted:
        for item in original.infolist():
            body = sheet_xml if item.filename == "xl/worksheets/sheet1.xml" else original.read(item.filename)
            crafted.writestr(item.filename, body)
    return out.getvalue()


def test_a_crafted_xlsx_that_unpacks_beyond_the_limits_is_refused_naming_the_file(monkeypatch):
    from sprakvan_importer import FileError, reading

    head = b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    # A zip bomb: whitespace deflates a thousandfold. The limit is lowered to 8 MB to keep the test fast (a
    # 256 MB bomb takes seconds to make); the check is the same.
    monkeypatch.setattr(reading, "MAX_UNPACKED_BYTES", 8 * 1024 * 1024)
    bomb = _with_sheet_xml(head + b"<sheetData>" + b" " * (9 * 1024 * 1024) + b"</sheetData></worksheet>")
    assert len(bomb) < 100 * 1024
    with pytest.raises(FileError, match=r"^historik\.xlsx would unpack to 9 MB in \d+ parts, more than an import"):
        read_file("historik.xlsx", bomb)

    # Small when unpacked too, but every row padded to Excel's last column (XFD): 16,384 cells a row. Reading
    # stops at the budget (lowered to keep the test fast: 10 of the 10,000 rows are read, not 184).
    monkeypatch.setattr(reading, "MAX_CELLS", 160_000)
    cell = b'<row r="%d"><c r="XFD%d" t="inlineStr"><is><t>x</t></is></c></row>'
    rows = b"".join(cell % (n, n) for n in range(1, 10_001))
    wide = _with_sheet_xml(head + b'<dimension ref="A1:XFD10000"/><sheetData>' + rows + b"</sheetData></worksheet>")
    with pytest.raises(FileError, match=r"^wide\.xlsx holds more than 160,000 cells \(empty ones included\)"):
        read_file("wide.xlsx", wide)

    # The budget is the file's, across its sheets and for CSV too; a file within it reads as before.
    monkeypatch.setattr(reading, "MAX_CELLS", 20)
    assert read_file("deltagare.csv", csv_file("nyckel;roll", *[f"n{i};nyanländ" for i in range(9)])).sheets
    with pytest.raises(FileError, match=r"^deltagare\.csv holds more than 20 cells"):
        read_file("deltagare.csv", csv_file("nyckel;roll", *[f"n{i};nyanländ" for i in range(10)]))
