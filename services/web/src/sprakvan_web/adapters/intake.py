"""Intake, over its HTTP API like any client, with a fresh short-lived token per call."""

from __future__ import annotations

from typing import Any

import httpx

from sprakvan_shared.contracts.intake import OrganisationConfiguration

from .services import Caller, ServiceClient, ServiceRefused, ServiceUnavailable, detail_of
from .tokens import TokenIssuer

__all__ = ["Caller", "IntakeClient", "IntakeRefused", "IntakeUnavailable"]


class IntakeUnavailable(ServiceUnavailable):
    """Intake did not answer, or answered 5xx: nothing is known to be saved."""


class IntakeRefused(ServiceRefused):
    def __init__(self, status_code: int, detail: Any) -> None:
        super().__init__("intake", status_code, detail)


class IntakeClient(ServiceClient):
    def __init__(self, base_url: str, issuer: TokenIssuer, *, audience: str, timeout: float = 10.0) -> None:
        super().__init__("intake", base_url, issuer, audience=audience, timeout=timeout)

    def unavailable(self, reason: str) -> Exception:
        return IntakeUnavailable(reason)

    def refused(self, response: httpx.Response) -> Exception:
        return IntakeRefused(response.status_code, detail_of(response))

    async def _send(self, method: str, path: str, caller: Caller, **kwargs: Any) -> httpx.Response:
        return await self.send(method, path, caller, **kwargs)

    async def configuration(self, caller: Caller) -> OrganisationConfiguration | None:
        """The organisation's programmes and vocabularies; None while it has none."""
        response = await self._send("GET", "/configuration", caller)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise IntakeRefused(response.status_code, detail_of(response))
        return OrganisationConfiguration.model_validate(response.json())

    async def register(self, caller: Caller, body: dict[str, Any], *, idempotency_key: str) -> str:
        """The new participant's id; a retry with the same key returns the same one."""
        response = await self._send(
            "POST", "/participants", caller, json=body, headers={"Idempotency-Key": idempotency_key}
        )
        if response.status_code not in (200, 201):
            raise IntakeRefused(response.status_code, detail_of(response))
        return str(response.json()["id"])

    async def participants(self, caller: Caller, *, limit: int = 50, **filters: str) -> list[dict[str, Any]]:
        params = {"limit": str(limit), **{k: v for k, v in filters.items() if v}}
        response = await self._send("GET", "/participants", caller, params=params)
        if response.status_code != 200:
            raise IntakeRefused(response.status_code, detail_of(response))
        return list(response.json()["items"])
