"""Computing a review: both periods' figures from one snapshot of the read models, then the pure
assembly in ``domain.review``."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from ..adapters import partnerships
from ..adapters.figures import Scope, period_figures
from ..domain.model import Period
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


async def compute_review(
    pool: asyncpg.Pool, scope: Scope, period: Period, partnership_id: uuid.UUID | None = None
) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        if partnership_id is not None:
            partnership = await partnerships.get(conn, scope.organisation_id, partnership_id)
            if partnership is None:
                raise UnknownPartnership(str(partnership_id))
        else:
            partnership = await partnerships.find_for(conn, scope.organisation_id, scope.programme, period)
        narrative = await partnerships.get_narrative(conn, partnership.id, period) if partnership else None
        now = await period_figures(conn, scope, period)
        before = await period_figures(conn, scope, period.year_earlier())
        return build_review(
            organisation_id=scope.organisation_id,
            programme=scope.programme,
            period=period,
            now=now,
            before=before,
            partnership=partnership,
            narrative=narrative,
            labels=await labels(conn, scope.organisation_id),
        )
