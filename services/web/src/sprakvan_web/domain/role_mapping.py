"""Which organisation and role an OpenID Connect login gets, from the provider's claims (groups, roles).

A municipality's Entra ID, ADFS or Keycloak decides through its groups: ``WEB_OIDC_ROLES_CLAIM`` names
the claim (``groups``, ``roles``, or a dotted path such as ``realm_access.roles``) and
``WEB_OIDC_ROLE_MAP`` maps its values to ``role`` or ``organisation:role``. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sprakvan_shared.auth import Role

# Several matching groups: the strongest role wins.
_RANK = {Role.VIEWER: 0, Role.COORDINATOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class Grant:
    organisation_id: str
    role: Role


def parse_grant(value: str, default_organisation: str | None) -> Grant:
    """``"coordinator"`` (the default organisation) or ``"linkoping:coordinator"``; ValueError otherwise."""
    organisation, _, role = value.strip().rpartition(":")
    organisation = organisation.strip() or (default_organisation or "")
    if not organisation:
        raise ValueError(f"{value!r} names no organisation and WEB_OIDC_ORGANISATION is not set")
    try:
        return Grant(organisation, Role(role.strip()))
    except ValueError:
        raise ValueError(f"{value!r}: the role must be admin, coordinator or viewer") from None


def claim_values(claims: Mapping[str, Any], path: str) -> list[str]:
    """The claim's values (a list or one string), following a dotted path; [] when absent."""
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def grant_for(claims: Mapping[str, Any], path: str, mapping: Mapping[str, Grant]) -> Grant | None:
    """The grant of the mapped values; None (no access) when none maps, or when they name two organisations
    (which one is meant cannot be guessed, so the safe answer is neither)."""
    grants = [mapping[value] for value in claim_values(claims, path) if value in mapping]
    if len({grant.organisation_id for grant in grants}) != 1:
        return None
    return max(grants, key=lambda grant: _RANK[grant.role])
