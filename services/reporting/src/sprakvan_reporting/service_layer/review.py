"""Computing a review: both periods' figures from one snapshot of the read models, then the pure
assembly in ``domain.review``."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import asyncpg

from ..adapters import partnerships
from ..adapters.figures import Scope, period_figures
from ..domain.model import Narrative, Partnership, Period
from ..domain.review import build_review


class UnknownPartnership(LookupError):
    pass


async def labels(conn: asyncpg.Connection, organisation_id: str) -> dict[str, Any]:
    """Code -> {sv, en} from the organisation's configuration, for the printed report."""
    configuration = await conn.fetchval(
        "SELECT configuration FROM organisations WHERE organisation_id = $1", organisation_id
    )
    found: dict[str, Any] = {}
    for key in ("programmes", "districts", "referral_sources", "campaigns", "interests"):
        entries = (configuration or {}).get(key) or []
        found[key] = {e["code"]: e.get("labels") or {} for e in sorted(entries, key=lambda e: e["code"])}
    return found


_SNAPSHOT_ID = re.compile(r"^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$")
# The report's sorts and hashes (100k participants, 50k pairs) fit in memory with this; the default 4 MB
# spilled them to disk.
_WORK_MEM = "64MB"


async def compute_review(
    pool: asyncpg.Pool, scope: Scope, period: Period, partnership_id: uuid.UUID | None = None
) -> dict[str, Any]:
    """Both periods are counted at once on two connections that share one snapshot (an exported
    snapshot), so the figures of the period and of the year before are of the same moment."""
    async with pool.acquire() as first, pool.acquire() as second:
        async with first.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await first.fetchval("SELECT pg_export_snapshot()")
            if not _SNAPSHOT_ID.match(snapshot):
                raise RuntimeError("unexpected snapshot id")
            await first.execute(f"SET LOCAL work_mem = '{_WORK_MEM}'")
            async with second.transaction(isolation="repeatable_read", readonly=True):
                await second.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                await second.execute(f"SET LOCAL work_mem = '{_WORK_MEM}'")
                before_task = asyncio.create_task(
                    period_figures(second, scope, period.year_earlier(), with_waiting_list=False)
                )
                try:
                    now = await period_figures(first, scope, period)
                    partnership, narrative = await _partnership_and_narrative(first, scope, period, partnership_id)
                    found_labels = await labels(first, scope.organisation_id)
                finally:
                    before = await before_task
    return build_review(
        organisation_id=scope.organisation_id,
        programme=scope.programme,
        period=period,
        now=now,
        before=before,
        partnership=partnership,
        narrative=narrative,
        labels=found_labels,
    )


async def _partnership_and_narrative(
    conn: asyncpg.Connection, scope: Scope, period: Period, partnership_id: uuid.UUID | None
) -> tuple[Partnership | None, Narrative | None]:
    if partnership_id is not None:
        partnership = await partnerships.get(conn, scope.organisation_id, partnership_id)
        if partnership is None:
            raise UnknownPartnership(str(partnership_id))
    else:
        partnership = await partnerships.find_for(conn, scope.organisation_id, scope.programme, period)
    narrative = await partnerships.get_narrative(conn, partnership.id, period) if partnership else None
    return partnership, narrative
