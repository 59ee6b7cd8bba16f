"""Intake, over its HTTP API like any client, with a fresh short-lived token per call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from sprakvan_shared.auth import Role
from sprakvan_shared.contracts.intake import OrganisationConfiguration

from .tokens import TokenIssuer


class IntakeUnavailable(Exception):
    """Intake did not answer, or answered 5xx: nothing is known to be saved."""


class IntakeRefused(Exception):
    def __init__(self, status_code: int, detail: Any) -> None:
        super().__init__(f"intake answered {status_code}")
        self.status_code, self.detail = status_code, detail


@dataclass(frozen=True)
class Caller:
    subject: str
    organisation_id: str
    role: Role


class IntakeClient:
    def __init__(self, base_url: str, issuer: TokenIssuer, *, audience: str, timeout: float = 10.0) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout, trust_env=False)
        self._issuer, self._audience = issuer, audience

    async def aclose(self) -> None:
        await self._http.aclose()

    def _headers(self, caller: Caller) -> dict[str, str]:
        token = self._issuer.mint(
            subject=caller.subject, organisation_id=caller.organisation_id, role=caller.role, audience=self._audience
        )
        return {"Authorization": f"Bearer {token}"}

    async def _send(self, method: str, path: str, caller: Caller, **kwargs: Any) -> httpx.Response:
        headers = self._headers(caller) | kwargs.pop("headers", {})
        try:
            response = await self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise IntakeUnavailable(type(exc).__name__) from exc
        if response.status_code >= 500:
            raise IntakeUnavailable(f"intake answered {response.status_code}")
        return response

    async def configuration(self, caller: Caller) -> OrganisationConfiguration | None:
        """The organisation's programmes and vocabularies; None while it has none."""
        response = await self._send("GET", "/configuration", caller)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise IntakeRefused(response.status_code, _detail(response))
        return OrganisationConfiguration.model_validate(response.json())

    async def register(self, caller: Caller, body: dict[str, Any], *, idempotency_key: str) -> str:
        """The new participant's id; a retry with the same key returns the same one."""
        response = await self._send(
            "POST", "/participants", caller, json=body, headers={"Idempotency-Key": idempotency_key}
        )
        if response.status_code not in (200, 201):
            raise IntakeRefused(response.status_code, _detail(response))
        return str(response.json()["id"])

    async def participants(self, caller: Caller, *, limit: int = 50, **filters: str) -> list[dict[str, Any]]:
        params = {"limit": str(limit), **{k: v for k, v in filters.items() if v}}
        response = await self._send("GET", "/participants", caller, params=params)
        if response.status_code != 200:
            raise IntakeRefused(response.status_code, _detail(response))
        return list(response.json()["items"])


def _detail(response: httpx.Response) -> Any:
    try:
        return response.json().get("detail")
    except ValueError:
        return None
