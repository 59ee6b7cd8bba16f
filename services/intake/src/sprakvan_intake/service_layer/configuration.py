"""Use cases of the organisation configuration: read it; replace it (load, check, store, enqueue
``organisation.configured`` in one transaction)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import asyncpg
import structlog

from sprakvan_shared import outbox
from sprakvan_shared.auth import Principal
from sprakvan_shared.contracts.intake import OrganisationConfiguration, OrganisationConfigured
from sprakvan_shared.logging import current_correlation_id

from ..adapters.configuration_repository import ConfigurationRepository
from ..domain.configuration import ConfigurationAggregate

log = structlog.get_logger(__name__)

# What If-Match asked for: a version, any existing configuration ("*"), or nothing (create only).
Precondition = int | Literal["*"] | None


class ConfigurationNotFound(Exception):
    pass


class PreconditionFailed(Exception):
    """If-Match names another version than the current one (someone changed it meanwhile)."""

    def __init__(self, current_version: int | None) -> None:
        super().__init__(f"current version: {current_version}")
        self.current_version = current_version


class PreconditionRequired(Exception):
    """A configuration exists, and the request did not say which version it replaces."""

    def __init__(self, current_version: int) -> None:
        super().__init__(f"current version: {current_version}")
        self.current_version = current_version


@dataclass(frozen=True)
class Configured:
    aggregate: ConfigurationAggregate
    created: bool


def configured_event(aggregate: ConfigurationAggregate) -> OrganisationConfigured:
    organisation_id = aggregate.configuration.organisation_id
    return OrganisationConfigured(
        organisation_id=organisation_id,
        correlation_id=current_correlation_id(),
        aggregate_id=organisation_id,
        version=aggregate.version,
        payload=aggregate.configuration,
    )


async def configuration_of(conn: asyncpg.Connection, organisation_id: str) -> OrganisationConfiguration | None:
    """The organisation's configuration, for checking the codes of a registration."""
    found = await ConfigurationRepository(conn).get(organisation_id)
    return found.configuration if found else None


async def get_configuration(pool: asyncpg.Pool, principal: Principal) -> ConfigurationAggregate:
    async with pool.acquire() as conn:
        found = await ConfigurationRepository(conn).get(principal.organisation_id)
    if found is None:
        raise ConfigurationNotFound(principal.organisation_id)
    return found


async def put_configuration(
    pool: asyncpg.Pool,
    principal: Principal,
    configuration: OrganisationConfiguration,
    *,
    if_match: Precondition,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Configured:
    """Replace the caller's organisation's configuration (already checked by ``domain.configure``)."""
    assert configuration.organisation_id == principal.organisation_id
    now = clock()
    async with pool.acquire() as conn, conn.transaction():
        repo = ConfigurationRepository(conn)
        current = await repo.get(principal.organisation_id, for_update=True)
        if current is None:
            if if_match is not None:
                raise PreconditionFailed(None)
            aggregate = ConfigurationAggregate.create(configuration, await repo.codes_in_use(principal.organisation_id))
            if not await repo.add(aggregate, by=principal.subject, now=now):
                raise PreconditionFailed(None)  # created concurrently: rolls back, the client reads and retries
            await outbox.enqueue(conn, configured_event(aggregate))
            log.info("organisation_configured", version=aggregate.version)
            return Configured(aggregate, created=True)
        if if_match is None:
            raise PreconditionRequired(current.version)
        if if_match != "*" and if_match != current.version:
            raise PreconditionFailed(current.version)
        if configuration == current.configuration:
            return Configured(current, created=False)  # nothing changed: no new version, no event
        current.replace(configuration, await repo.codes_in_use(principal.organisation_id))
        await repo.save(current, by=principal.subject, now=now)
        await outbox.enqueue(conn, configured_event(current))
    log.info("organisation_configured", version=current.version)
    return Configured(current, created=False)
