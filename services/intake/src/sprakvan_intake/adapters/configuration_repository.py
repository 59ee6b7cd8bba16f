"""PostgreSQL storage of organisation configurations, and the codes an organisation's data uses."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from sprakvan_shared.contracts.intake import OrganisationConfiguration

from ..domain.configuration import ConfigurationAggregate

# Codes that participants who are not erased use, per vocabulary: their registrations and events.
_PARTICIPANT_CODES = """
    SELECT 'programmes' AS vocabulary, details->>'programme' AS code FROM participants
        WHERE organisation_id = $1 AND details IS NOT NULL
    UNION SELECT 'districts', district FROM participants WHERE organisation_id = $1 AND district IS NOT NULL
    UNION SELECT 'referral_sources', details->>'referral_source' FROM participants
        WHERE organisation_id = $1 AND details IS NOT NULL
    UNION SELECT 'campaigns', details->>'campaign' FROM participants
        WHERE organisation_id = $1 AND details->>'campaign' IS NOT NULL
    UNION SELECT 'interests', jsonb_array_elements_text(details->'interests') FROM participants
        WHERE organisation_id = $1 AND details IS NOT NULL
"""
# And the anonymous records of erased participants, which reports still count and label.
_STATISTICS_CODES = """
    UNION SELECT vocabulary, record->>field FROM erasure_statistics,
        jsonb_array_elements(records) AS record,
        (VALUES ('programmes', 'programme'), ('districts', 'district'), ('referral_sources', 'referral_source'),
                ('campaigns', 'campaign')) AS fields (vocabulary, field)
        WHERE organisation_id = $1 AND record->>field IS NOT NULL
"""


class ConfigurationRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def get(self, organisation_id: str, *, for_update: bool = False) -> ConfigurationAggregate | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"SELECT configuration, version FROM organisation_configurations WHERE organisation_id = $1{lock}",
            organisation_id,
        )
        if row is None:
            return None
        return ConfigurationAggregate(OrganisationConfiguration.model_validate(row["configuration"]), row["version"])

    async def add(self, aggregate: ConfigurationAggregate, *, by: str, now: datetime) -> bool:
        """False when another request created this organisation's configuration first."""
        status = await self._conn.execute(
            """INSERT INTO organisation_configurations (organisation_id, configuration, version, updated_at, updated_by)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
            *self._row(aggregate, by, now),
        )
        return status == "INSERT 0 1"

    async def save(self, aggregate: ConfigurationAggregate, *, by: str, now: datetime) -> None:
        await self._conn.execute(
            """UPDATE organisation_configurations SET configuration = $2, version = $3, updated_at = $4,
                   updated_by = $5 WHERE organisation_id = $1""",
            *self._row(aggregate, by, now),
        )

    async def codes_in_use(self, organisation_id: str) -> dict[str, set[str]]:
        in_use: dict[str, set[str]] = {}
        for row in await self._conn.fetch(_PARTICIPANT_CODES + _STATISTICS_CODES, organisation_id):
            in_use.setdefault(row["vocabulary"], set()).add(row["code"])
        return in_use

    @staticmethod
    def _row(aggregate: ConfigurationAggregate, by: str, now: datetime) -> tuple[object, ...]:
        configuration = aggregate.configuration
        return (configuration.organisation_id, configuration.model_dump(mode="json"), aggregate.version, now, by)
