"""Role mapping from a provider's claims: pure rules and the settings that hold them (no I/O)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sprakvan_shared.auth import Role
from sprakvan_web.domain.role_mapping import Grant, claim_values, grant_for, parse_grant
from sprakvan_web.settings import WebSettings

MAP = {
    "sg-sprakvan-admins": Grant("linkoping", Role.ADMIN),
    "sg-sprakvan-coordinators": Grant("linkoping", Role.COORDINATOR),
    "sg-sprakvan-viewers": Grant("linkoping", Role.VIEWER),
    "sg-norrkoping-viewers": Grant("norrkoping", Role.VIEWER),
}


@pytest.mark.parametrize(
    ("value", "grant"),
    [
        ("coordinator", Grant("linkoping", Role.COORDINATOR)),
        (" admin ", Grant("linkoping", Role.ADMIN)),
        ("norrkoping:viewer", Grant("norrkoping", Role.VIEWER)),
    ],
)
def test_a_map_entry_is_a_role_of_the_default_organisation_or_of_a_named_one(value: str, grant: Grant) -> None:
    assert parse_grant(value, "linkoping") == grant


@pytest.mark.parametrize(("value", "default"), [("boss", "linkoping"), ("linkoping:", None), ("viewer", None)])
def test_a_map_entry_without_a_role_or_an_organisation_is_refused(value: str, default: str | None) -> None:
    with pytest.raises(ValueError, match="role|organisation"):
        parse_grant(value, default)


@pytest.mark.parametrize(
    ("claims", "path", "values"),
    [
        ({"groups": ["a", "b"]}, "groups", ["a", "b"]),
        ({"roles": "a"}, "roles", ["a"]),
        ({"realm_access": {"roles": ["a"]}}, "realm_access.roles", ["a"]),
        ({"groups": ["a", 7, {"x": 1}]}, "groups", ["a"]),  # only strings count
        ({"groups": {"a": True}}, "groups", []),
        ({}, "groups", []),
        ({"realm_access": "a"}, "realm_access.roles", []),
    ],
)
def test_claim_values_are_read_from_a_list_a_string_or_a_dotted_path(claims: dict, path: str, values: list) -> None:
    assert claim_values(claims, path) == values


@pytest.mark.parametrize(
    ("groups", "grant"),
    [
        (["sg-sprakvan-viewers"], Grant("linkoping", Role.VIEWER)),
        (["sg-sprakvan-coordinators"], Grant("linkoping", Role.COORDINATOR)),
        (["sg-sprakvan-admins"], Grant("linkoping", Role.ADMIN)),
        (["sg-sprakvan-viewers", "sg-sprakvan-admins", "sg-sprakvan-coordinators"], Grant("linkoping", Role.ADMIN)),
        (["sg-norrkoping-viewers"], Grant("norrkoping", Role.VIEWER)),
        (["other", "Sg-Sprakvan-Admins"], None),  # no value maps (exact match only)
        ([], None),
        (["sg-sprakvan-admins", "sg-norrkoping-viewers"], None),  # two organisations: neither
    ],
)  # fmt: skip
def test_the_strongest_mapped_role_wins_and_no_match_is_no_access(groups: list[str], grant: Grant | None) -> None:
    assert grant_for({"groups": groups}, "groups", MAP) == grant


def test_the_settings_take_the_map_as_json_and_check_every_entry() -> None:
    settings = WebSettings(
        oidc_organisation="linkoping",
        oidc_roles_claim="groups",
        oidc_role_map='{"sg-a": "admin", "sg-n": "norrkoping:viewer"}',
    )
    assert settings.oidc_grants == {"sg-a": Grant("linkoping", Role.ADMIN), "sg-n": Grant("norrkoping", Role.VIEWER)}
    assert WebSettings(oidc_role_map="").oidc_role_map == {}  # compose passes an empty variable when unused
    with pytest.raises(ValidationError, match="the role must be"):
        WebSettings(oidc_organisation="linkoping", oidc_roles_claim="groups", oidc_role_map='{"sg-a": "boss"}')
    with pytest.raises(ValidationError, match="needs WEB_OIDC_ROLE_MAP"):
        WebSettings(oidc_roles_claim="groups")
    with pytest.raises(ValidationError, match="names no organisation"):
        WebSettings(oidc_roles_claim="groups", oidc_role_map='{"sg-a": "admin"}')
