"""The services' HTTP APIs, called like any client would, with a fresh short-lived token per call.

One client per service (intake, matching, events, reporting). A 5xx or no answer is
:class:`ServiceUnavailable` (nothing is known to be saved: the page says "try again"); any other non-2xx
is :class:`ServiceRefused` with the service's ``detail`` (a 409's reason, a 422's field errors), which
pages show in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from sprakvan_shared.auth import Role

from .tokens import TokenIssuer


class ServiceUnavailable(Exception):
    """The service did not answer, or answered 5xx."""


class ServiceRefused(Exception):
    def __init__(self, service: str, status_code: int, detail: Any, code: str | None = None) -> None:
        super().__init__(f"{service} answered {status_code}")
        self.service, self.status_code, self.detail = service, status_code, detail
        self.code = code  # a problem's machine-readable kind, where the service gives one

    def field_errors(self) -> dict[str, str]:
        """A 422's errors by field (the last part of ``loc``), for showing beside the form's fields."""
        found: dict[str, str] = {}
        if isinstance(self.detail, list):
            for item in self.detail:
                if isinstance(item, dict) and item.get("loc"):
                    found.setdefault(str(item["loc"][-1]), str(item.get("msg", "")))
        return found


@dataclass(frozen=True)
class Caller:
    subject: str
    organisation_id: str
    role: Role


class ServiceClient:
    def __init__(self, name: str, base_url: str, issuer: TokenIssuer, *, audience: str, timeout: float = 10.0) -> None:
        self.name = name
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout, trust_env=False)
        self._issuer, self._audience = issuer, audience

    async def aclose(self) -> None:
        await self._http.aclose()

    def _headers(self, caller: Caller) -> dict[str, str]:
        token = self._issuer.mint(
            subject=caller.subject, organisation_id=caller.organisation_id, role=caller.role, audience=self._audience
        )
        return {"Authorization": f"Bearer {token}"}

    def unavailable(self, reason: str) -> Exception:
        return ServiceUnavailable(f"{self.name}: {reason}")

    def refused(self, response: httpx.Response) -> Exception:
        return ServiceRefused(self.name, response.status_code, detail_of(response), _field_of(response, "code"))

    async def send(self, method: str, path: str, caller: Caller, **kwargs: Any) -> httpx.Response:
        """The raw response (any status below 500)."""
        headers = self._headers(caller) | kwargs.pop("headers", {})
        try:
            response = await self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise self.unavailable(type(exc).__name__) from exc
        if response.status_code >= 500:
            raise self.unavailable(f"answered {response.status_code}")
        return response

    async def get(self, path: str, caller: Caller, **params: Any) -> Any:
        """The JSON of a 200; ``params`` with a value of None or "" are left out."""
        query = {k: v for k, v in params.items() if v not in (None, "")}
        response = await self.send("GET", path, caller, params=query)
        if response.status_code != 200:
            raise self.refused(response)
        return response.json()

    async def get_bytes(self, path: str, caller: Caller, **params: Any) -> httpx.Response:
        """A download (CSV, PDF, iCal): the whole response of a 200."""
        query = {k: v for k, v in params.items() if v not in (None, "")}
        response = await self.send("GET", path, caller, params=query)
        if response.status_code != 200:
            raise self.refused(response)
        return response

    async def write(
        self,
        method: str,
        path: str,
        caller: Caller,
        body: Any = None,
        *,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """POST/PUT/PATCH/DELETE; the JSON answer of a 2xx (None for 204). A form's POST passes the key
        it was rendered with, so that a double click or a resent form changes nothing twice."""
        extra = dict(headers or {})
        if idempotency_key and method == "POST":
            extra["Idempotency-Key"] = idempotency_key
        kwargs: dict[str, Any] = {"headers": extra}
        if body is not None:
            kwargs["json"] = body
        response = await self.send(method, path, caller, **kwargs)
        if not 200 <= response.status_code < 300:
            raise self.refused(response)
        return response.json() if response.content else None


def detail_of(response: httpx.Response) -> Any:
    return _field_of(response, "detail")


def _field_of(response: httpx.Response, name: str) -> Any:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get(name) if isinstance(body, dict) else None
