"""The review's period choice and the partnership's form, as plain functions."""

from __future__ import annotations

from datetime import date

from sprakvan_web.entrypoints.workspace.review_partnership_form import form_to_terms, terms_to_form
from sprakvan_web.entrypoints.workspace.review_view import choose_period

TODAY = date(2026, 12, 1)


def test_a_year_by_default_or_from_to_and_problems_by_field() -> None:
    year, problems = choose_period({}, TODAY)
    assert problems == {} and (year.start, year.end, year.query()) == (
        date(2026, 1, 1),
        date(2026, 12, 31),
        {"year": "2026"},
    )
    assert year.previous == (date(2025, 1, 1), date(2025, 12, 31))
    span, _ = choose_period({"from": "2019-01-01", "to": "2019-10-31", "programme": "sprakvan", "year": "2020"}, TODAY)
    assert span.service_query() == {"from": "2019-01-01", "to": "2019-10-31", "programme": "sprakvan"}
    leap, _ = choose_period({"from": "2024-02-29", "to": "2024-03-31"}, TODAY)
    assert leap.previous == (date(2023, 2, 28), date(2023, 3, 31))
    for asked, field in (
        ({"year": "0001"}, "year"),
        ({"year": "20x6"}, "year"),
        ({"from": "2019-13-01", "to": "2019-12-31"}, "from"),
        ({"from": "2019-05-01", "to": "2019-04-30"}, "to"),
        ({"from": "2019-01-01"}, "to"),
        ({"from": "2010-01-01", "to": "2019-12-31"}, "to"),
        ({"programme": "x'; drop"}, "programme"),
        ({"year": "\x00"}, "year"),
    ):
        choice, problems = choose_period(asked, TODAY)
        assert choice is None and field in problems, asked


def test_the_partnership_form_reads_rows_as_people_write_them() -> None:
    form = {
        "title": " Vi ses! ", "programme": "", "valid_from": "2019-01-01", "valid_to": "2021-12-31", "purpose": "",
        "partner-0-name": "Linköpings kommun", "partner-0-contribution": "600 000", "partner-0-covers": "Projektledare",
        "partner-1-name": "", "partner-1-contribution": "", "partner-1-covers": "",
        "partner-2-name": "Röda Korset", "partner-2-contribution": "477\u00a0600 kr", "partner-2-covers": "OH",
        "goal-0-kind": "regular_activity_in_district", "goal-0-district": "ryd", "goal-0-text": "",
        "goal-1-kind": "", "goal-1-text": "",
        "goal-2-kind": "text", "goal-2-text": "Fler par.",
    }  # fmt: skip
    terms, problems = form_to_terms(form, {"ryd"})
    assert problems == {}
    assert terms["title"] == "Vi ses!" and [p["yearly_contribution_sek"] for p in terms["partners"]] == [600000, 477600]
    assert terms["goals"] == [
        {"kind": "regular_activity_in_district", "text": "", "district": "ryd"},
        {"kind": "text", "text": "Fler par."},
    ]
    assert form_to_terms(terms_to_form(terms), {"ryd"})[0] == terms  # what the form shows, it reads back

    wrong = form | {"valid_to": "2018-12-31", "partner-0-contribution": "sexhundra", "goal-0-district": "mars",
                    "goal-2-text": "", "partner-1-covers": "Lokaler", "title": ""}  # fmt: skip
    assert form_to_terms(wrong, {"ryd"}) == (
        None,
        {
            "title": "Give the partnership a title.",
            "valid_to": "The partnership ends before it starts.",
            "partner-0-contribution": "Give the yearly contribution in whole kronor, for example 600000.",
            "partner-1-name": "Give the partner's name, or empty the row to remove it.",
            "goal-0-district": "Choose the district where the activity should be regular.",
            "goal-2-text": "Write the goal.",
        },
    )
