"""Use cases of the organisation configuration: read it; replace it (load, check, store, enqueue
``organisation.configured`` in one transaction)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg
import structlog

from sprakvan_shared import outbox
from sprakvan_shared.auth import Principal
from sprakvan_shared.contracts.intake import OrganisationConfiguration, OrganisationConfigured
from sprakvan_shared.logging import current_correlation_id

from ..adapters.configuration_repository import ConfigurationRepository
from ..domain.configuration import ConfigurationAggregate, codes_of, unknown_codes_in
from ..domain.model import FieldError

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


# Registrations check their codes against a configuration read at most this often (per process): it
# saves a round trip on the hot path. A code found unknown is checked again against the stored
# configuration, so a code another replica just added is never refused; one it just removed may be
# accepted for this long (the README's rule about codes says what that means).
CACHE_SECONDS = 5.0


# Per organisation: when it was read, and its codes per vocabulary (``codes_of``; None: not configured).
_Entry = tuple[float, Mapping[str, frozenset[str]] | None]


@dataclass
class _Cache:
    pool: asyncpg.Pool  # one per process in production; a new pool (a test's new app) starts afresh
    entries: dict[str, _Entry] = field(default_factory=dict)


_cache: _Cache | None = None


def _entries(pool: asyncpg.Pool) -> dict[str, _Entry]:
    global _cache  # noqa: PLW0603 - the process's one cache
    if _cache is None or _cache.pool is not pool:
        _cache = _Cache(pool)
    return _cache.entries


async def unknown_registration_codes(
    pool: asyncpg.Pool, organisation_id: str, values: Mapping[str, Any]
) -> list[FieldError]:
    """``domain.unknown_codes`` against the organisation's configuration (cached, see ``CACHE_SECONDS``)."""
    entries = _entries(pool)
    cached = entries.get(organisation_id)
    if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
        if not (errors := unknown_codes_in(cached[1], values)):
            return errors
    async with pool.acquire() as conn:
        configuration = await configuration_of(conn, organisation_id)
    known = None if configuration is None else codes_of(configuration)
    entries[organisation_id] = (time.monotonic(), known)
    return unknown_codes_in(known, values)


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
            return Configured(aggregate, created=True)  # (a cached "none yet" is always read again)
        if if_match is None:
            raise PreconditionRequired(current.version)
        if if_match != "*" and if_match != current.version:
            raise PreconditionFailed(current.version)
        if configuration == current.configuration:
            return Configured(current, created=False)  # nothing changed: no new version, no event
        current.replace(configuration, await repo.codes_in_use(principal.organisation_id))
        await repo.save(current, by=principal.subject, now=now)
        await outbox.enqueue(conn, configured_event(current))
    _entries(pool).pop(principal.organisation_id, None)  # after the commit: no one caches the old one again
    log.info("organisation_configured", version=current.version)
    return Configured(current, created=False)
