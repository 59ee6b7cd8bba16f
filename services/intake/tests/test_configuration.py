"""The organisation configuration's rules alone: no database, no broker."""

from __future__ import annotations

from typing import Any

import pytest

from sprakvan_intake.domain.configuration import (
    CodesInUse,
    ConfigurationAggregate,
    InvalidConfiguration,
    configure,
    default_referral_sources,
    unknown_codes,
)
from sprakvan_shared.contracts.intake import District, Programme, ReferralSource, VocabularyEntry


def entry(code: str, cls: type = VocabularyEntry, **extra: Any) -> Any:
    return cls.model_validate({"code": code, "labels": {"sv": code.title(), "en": code.title()}, **extra})


def district(code: str, *neighbours: str) -> District:
    return entry(code, District, neighbours=neighbours)


def make(**overrides: Any):  # noqa: ANN201
    given: dict[str, Any] = {
        "programmes": [entry("sprakvan", Programme)],
        "districts": [district("ryd", "berga"), district("berga"), district("skaggetorp", "berga")],
        "interests": [entry("fika"), entry("walks")],
        "campaigns": [entry("cake-party-2019")],
        "referral_sources": [entry("sfi"), entry("campaign")],
    }
    return configure("linkoping", **{**given, **overrides})


def errors_of(**overrides: Any) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(InvalidConfiguration) as caught:
        make(**overrides)
    return [(e.field, e.message) for e in caught.value.errors]


def test_neighbours_are_made_symmetric_keeping_the_order_given() -> None:
    neighbours = {d.code: d.neighbours for d in make().districts}
    assert neighbours == {"ryd": ("berga",), "berga": ("ryd", "skaggetorp"), "skaggetorp": ("berga",)}


def test_an_unknown_own_or_repeated_neighbour_is_named_by_position() -> None:
    errors = errors_of(districts=[district("ryd", "berga", "lambohov"), district("berga", "berga", "ryd", "ryd")])
    assert errors == [
        (("districts", 0, "neighbours", 1), "unknown district 'lambohov'"),
        (("districts", 1, "neighbours", 0), "a district is not its own neighbour"),
        (("districts", 1, "neighbours", 2), "neighbour 'ryd' is listed twice"),
    ]


def test_codes_are_unique_per_vocabulary_but_may_repeat_across_vocabularies() -> None:
    errors = errors_of(interests=[entry("fika"), entry("walks"), entry("fika")], campaigns=[entry("fika")])
    assert errors == [(("interests", 2, "code"), "code 'fika' is listed twice")]


def test_at_least_one_programme_and_no_blank_labels() -> None:
    blank = VocabularyEntry.model_validate({"code": "walks", "labels": {"sv": "  ", "en": "Walks"}})
    errors = errors_of(programmes=[], interests=[entry("fika"), blank])
    assert errors == [
        (("programmes",), "an organisation runs at least one programme"),
        (("interests", 1, "labels", "sv"), "a label cannot be blank"),
    ]


@pytest.mark.parametrize("given", [None, []])
def test_without_referral_sources_the_standard_ones_apply(given: list | None) -> None:
    configuration = make(referral_sources=given)
    assert [e.code for e in configuration.referral_sources] == [s.value for s in ReferralSource]
    assert all(e.labels.sv and e.labels.en for e in default_referral_sources())


def test_unknown_codes_are_named_per_field_and_position() -> None:
    values = {
        "programme": "flyktingguide",
        "district": "lambohov",
        "interests": ["fika", "chess", "walks", "golf"],
        "referral_source": "radio",
        "campaign": "cake-party-2019",
        "first_name": "not a code",
    }
    assert [e.field for e in unknown_codes(make(), values)] == [
        ("programme",),
        ("district",),
        ("interests", 1),
        ("interests", 3),
        ("referral_source",),
    ]
    assert unknown_codes(make(), {"campaign": None, "phone": "+4670"}) == []


def test_without_a_configuration_the_programme_is_refused_saying_an_admin_must_configure() -> None:
    (error,) = unknown_codes(None, {"programme": "sprakvan", "district": "ryd"})
    assert error.field == ("programme",) and "admin" in error.message
    assert unknown_codes(None, {"phone": "+46701234567"}) == []  # a PATCH that touches no code


def test_a_change_bumps_the_version_and_the_same_configuration_changes_nothing() -> None:
    aggregate = ConfigurationAggregate.create(make(), {})
    assert aggregate.version == 1
    assert aggregate.replace(make(), {"districts": {"ryd"}}) is False
    assert aggregate.replace(make(interests=[entry("fika")]), {"interests": {"fika"}}) is True
    assert aggregate.version == 2 and [e.code for e in aggregate.configuration.interests] == ["fika"]


def test_codes_still_in_use_cannot_be_removed_nor_be_missing_from_a_first_configuration() -> None:
    aggregate = ConfigurationAggregate.create(make(), {})
    in_use = {"districts": {"ryd", "berga"}, "interests": {"walks"}, "campaigns": {"cake-party-2019"}}
    with pytest.raises(CodesInUse) as caught:
        aggregate.replace(make(districts=[district("berga")], interests=[], campaigns=[]), in_use)
    assert caught.value.missing == {"districts": ["ryd"], "interests": ["walks"], "campaigns": ["cake-party-2019"]}
    assert aggregate.version == 1
    with pytest.raises(CodesInUse):
        ConfigurationAggregate.create(
            make(programmes=[entry("flyktingguide", Programme)]), {"programmes": {"sprakvan"}}
        )
