"""``GET /exports/{kind}`` of every service into the import file's sheets, so that the file imports again.

The services export rows of the import's shape, with participants referred to by id; the file refers to
them by their key in the participants sheet, so ids are turned back into those keys. Datetimes are
written as local Stockholm time ("2024-03-05 18:00"), as a coordinator would type them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from .cells import STOCKHOLM
from .kinds import KINDS, Column, Kind, Type
from .services import ServiceError, Services, participant_ids
from .writing import Table


def _get(row: dict[str, Any], path: str) -> Any:
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _local(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        return value
    local = moment.astimezone(STOCKHOLM)
    return local.strftime("%Y-%m-%d %H:%M" + (":%S" if local.second else ""))


def cell_of(column: Column, value: Any, participant_key: Callable[[str], str], language: str) -> Any:
    if value is None or value == [] or value == "":
        return None
    match column.type:
        case Type.BOOLEAN:
            yes, no = ("ja", "nej") if language == "sv" else ("yes", "no")
            return yes if value else no
        case Type.MOMENT:
            return _local(str(value)) if "T" in str(value) else str(value)
        case Type.CODES:
            return ", ".join(str(v) for v in value)
        case Type.PAIRS:
            first, second = column.names
            return ", ".join(f"{item.get(first)}:{item.get(second)}" for item in value)
        case Type.PARTICIPANT:
            return participant_key(str(value))
        case Type.INTEGER | Type.NUMBER:
            return value
    return str(value)


async def export_tables(
    services: Services, *, language: str = "sv", kinds: tuple[Kind, ...] = KINDS, skipped: list[str] | None = None
) -> list[Table]:
    """Every kind's rows as a table; a kind whose service has no export is left out (named in ``skipped``)."""
    keys_of_ids: dict[str, str] = {}
    tables: list[Table] = []
    for kind in kinds:
        try:
            rows = [row async for row in services.export_rows(kind.service, kind.name)]
        except ServiceError as exc:
            if skipped is None:
                raise
            skipped.append(f"{kind.name}: {exc}")
            continue
        if kind.name == "participants":
            keys_of_ids.update({id_: key for key, id_ in participant_ids(rows).items()})

        def participant_key(participant_id: str) -> str:
            return keys_of_ids.get(participant_id, participant_id)

        table = Table(kind.sheet(language), [c.header(language) for c in kind.columns])
        table.rows = [[cell_of(c, _get(row, c.field), participant_key, language) for c in kind.columns] for row in rows]
        tables.append(table)
    return tables
