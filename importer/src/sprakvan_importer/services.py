"""The services' import and export endpoints over HTTP: one ``httpx.AsyncClient`` per service.

The CLI makes clients with base URLs and an admin token; the web page and the tests pass their own (an
ASGI client in tests). A 503 (PostgreSQL away, ``Retry-After``) is retried a few times: an import request
is safe to repeat, its rows are keyed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

_RETRIES_ON_503 = 5
EXPORT_PAGE = 1000
SMALL_EXPORT_PAGE = 100


class ServiceError(RuntimeError):
    """A service answered something no import can go on from (401, 403, a broken body)."""


class ServiceFailed(ServiceError):
    """A service failed one request (5xx, unreachable): its rows are reported, the import goes on."""


@dataclass
class Services:
    clients: Mapping[str, httpx.AsyncClient]  # by service name: intake, matching, events, reporting
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. the admin's Authorization

    def _client(self, service: str) -> httpx.AsyncClient:
        try:
            return self.clients[service]
        except KeyError:
            raise ServiceError(f"no address for the {service} service") from None

    async def request(self, method: str, service: str, path: str, **kwargs: Any) -> httpx.Response:
        client = self._client(service)
        for attempt in range(_RETRIES_ON_503 + 1):
            try:
                response = await client.request(method, path, headers=dict(self.headers), **kwargs)
            except httpx.TransportError as exc:
                if attempt == _RETRIES_ON_503:
                    raise ServiceFailed(f"{service} cannot be reached ({type(exc).__name__})") from None
                await asyncio.sleep(0.5 * 2**attempt)
                continue
            if response.status_code != 503 or attempt == _RETRIES_ON_503:
                break
            await asyncio.sleep(min(float(response.headers.get("retry-after") or 1), 5.0))
        if response.status_code in (401, 403):
            raise ServiceError(f"{service} refused the token ({response.status_code}): imports need an admin token")
        if response.status_code >= 500:
            raise ServiceFailed(f"{service} answered {response.status_code} to {method} {path}")
        return response

    async def configuration(self) -> dict[str, Any] | None:
        response = await self.request("GET", "intake", "/configuration")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ServiceError(f"intake answered {response.status_code} to GET /configuration")
        return response.json()

    async def import_rows(
        self, service: str, kind: str, rows: list[dict[str, Any]], dry_run: bool, **extra: Any
    ) -> httpx.Response:
        body = {"dry_run": dry_run, "rows": rows, **extra}
        return await self.request("POST", service, f"/imports/{kind}", json=body)

    async def export_rows(self, service: str, kind: str) -> AsyncIterator[dict[str, Any]]:
        """Every row of ``GET /exports/{kind}``, page by page."""
        cursor: str | None = None
        limit = EXPORT_PAGE
        while True:
            params: dict[str, Any] = {"limit": limit}
            if cursor:
                params["cursor"] = cursor
            response = await self.request("GET", service, f"/exports/{kind}", params=params)
            if response.status_code == 422 and cursor is None and limit > SMALL_EXPORT_PAGE:
                limit = SMALL_EXPORT_PAGE  # a service with smaller pages (reporting's partnerships)
                continue
            if response.status_code == 404 and cursor is None:
                raise ServiceError(f"{service} has no export of {kind} (GET /exports/{kind} answered 404)")
            if response.status_code != 200:
                raise ServiceError(f"{service} answered {response.status_code} to GET /exports/{kind}")
            body = response.json()
            for row in body.get("rows", ()):
                yield row
            cursor = body.get("next_cursor")
            if not cursor:
                return


def participant_ids(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Key -> intake's id, for rows of intake's ``GET /exports/participants`` (each carries both)."""
    return {str(r["key"]): str(r["id"]) for r in rows}
