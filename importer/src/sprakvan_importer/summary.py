"""The report of an import as text: counts per sheet, then each refusal with sheet, row and column, then
each value that could not be mapped to a code, once, with its rows."""

from __future__ import annotations

from .run import ImportReport

_MAX_ROWS_LISTED = 20


def _rows(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:_MAX_ROWS_LISTED])
    return shown + (f" and {len(rows) - _MAX_ROWS_LISTED} more" if len(rows) > _MAX_ROWS_LISTED else "")


def format_report(report: ImportReport) -> str:
    verb = "would be" if report.dry_run else "was"
    lines = [("Dry run: nothing was written." if report.dry_run else "Import done.")]
    width = max([len(k.sheet) for k in report.kinds] + [5])
    lines.append(f"  {'sheet':<{width}}  {'rows':>7} {'created':>8} {'updated':>8} {'unchanged':>10} {'refused':>8}")
    for kind in report.kinds:
        lines.append(
            f"  {kind.sheet:<{width}}  {kind.rows:>7} {kind.created:>8} {kind.updated:>8} {kind.unchanged:>10}"
            f" {kind.refused:>8}   ({kind.seconds:.1f} s)"
        )
    assumed = sum(k.assumed for k in report.kinds)
    if assumed:
        lines.append(
            f"  {assumed} rows would be created assuming the participants or rows this import creates first"
            " (a dry run cannot check those references)"
        )
    for kind in report.kinds:
        if kind.ignored_columns:
            lines.append(f"Sheet {kind.sheet}: columns not recognised, ignored: {', '.join(kind.ignored_columns)}")
    if report.ignored_sheets:
        lines.append(f"Sheets not recognised, ignored: {', '.join(report.ignored_sheets)}")
    problems = [p for k in report.kinds for p in sorted(k.problems, key=lambda p: p.row)]
    if problems:
        rows = sum(k.refused for k in report.kinds)
        lines.append(f"\nRefused rows ({rows}; none of them {verb} imported):")
        for p in problems:
            lines.append(f"  {p.sheet} row {p.row} ({p.key or 'no key'}), {p.column}: {p.code}: {p.message}")
    if report.unmapped:
        lines.append("\nValues that are no code of the organisation's configuration (add them, or correct the file):")
        for u in report.unmapped:
            where = f"rows {_rows(u.rows)}" if len(u.rows) > 1 else f"row {u.rows[0]}"
            lines.append(f"  {u.sheet}, {u.column}: {u.value!r} ({u.vocabulary}) in {where}")
    return "\n".join(lines)
