"""An organisation's configuration: its programmes and the vocabularies a registration's codes come
from (districts and their neighbours, interests, campaigns, referral sources), as plain rules.

Rules:
* every vocabulary has unique codes, every label has a non-blank Swedish and English text;
* there is at least one programme;
* a district's neighbours are districts of the configuration, not itself; neighbourhood is symmetric
  (listing Ryd as Berga's neighbour makes Berga Ryd's too);
* without referral sources the standard ones (``ReferralSource``) apply;
* a code that participants still use cannot be removed (``CodesInUse``): their registrations, events
  and the statistics keep meaning something to every service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sprakvan_shared.contracts.intake import (
    District,
    Label,
    OrganisationConfiguration,
    Programme,
    ReferralSource,
    VocabularyEntry,
)

from .model import FieldError

DEFAULT_REFERRAL_LABELS: dict[ReferralSource, tuple[str, str]] = {
    ReferralSource.SELF: ("På eget initiativ", "On their own initiative"),
    ReferralSource.FRIEND: ("Via en vän", "Through a friend"),
    ReferralSource.MUNICIPALITY: ("Kommunen", "The municipality"),
    ReferralSource.EMPLOYMENT_SERVICE: ("Arbetsförmedlingen", "The Swedish Public Employment Service"),
    ReferralSource.SFI: ("SFI", "SFI (Swedish for immigrants)"),
    ReferralSource.RED_CROSS: ("Röda Korset", "The Red Cross"),
    ReferralSource.CHURCH: ("Kyrkan eller samfund", "A church or congregation"),
    ReferralSource.WOMENS_ASSOCIATION: ("Kvinnoförening", "A women's association"),
    ReferralSource.LIBRARY: ("Biblioteket", "The library"),
    ReferralSource.FAIR: ("Mässa eller evenemang", "A fair or event"),
    ReferralSource.CAMPAIGN: ("Kampanj", "A campaign"),
    ReferralSource.OTHER: ("Annat", "Other"),
}


def default_referral_sources() -> tuple[VocabularyEntry, ...]:
    return tuple(
        VocabularyEntry(code=source.value, labels=Label(sv=sv, en=en))
        for source, (sv, en) in DEFAULT_REFERRAL_LABELS.items()
    )


# The vocabularies of a configuration, and the registration fields that take their codes.
VOCABULARIES = ("programmes", "districts", "interests", "campaigns", "referral_sources")
FIELD_VOCABULARY = {
    "programme": "programmes",
    "district": "districts",
    "interests": "interests",
    "campaign": "campaigns",
    "referral_source": "referral_sources",
}


class InvalidConfiguration(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e.field))}: {e.message}" for e in errors))
        self.errors = errors


class CodesInUse(Exception):
    """The new configuration leaves out codes that participants or the statistics still use."""

    def __init__(self, missing: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{vocabulary}: {', '.join(codes)}" for vocabulary, codes in missing.items()))
        self.missing = missing


def configure(
    organisation_id: str,
    *,
    programmes: Sequence[Programme],
    districts: Sequence[District],
    interests: Sequence[VocabularyEntry] = (),
    campaigns: Sequence[VocabularyEntry] = (),
    referral_sources: Sequence[VocabularyEntry] | None = None,
) -> OrganisationConfiguration:
    """The checked, normalised configuration (neighbours made symmetric, default referral sources);
    raises ``InvalidConfiguration`` naming every bad field."""
    if referral_sources is None or not referral_sources:
        referral_sources = default_referral_sources()
    given: dict[str, Sequence[VocabularyEntry]] = {
        "programmes": programmes,
        "districts": districts,
        "interests": interests,
        "campaigns": campaigns,
        "referral_sources": referral_sources,
    }
    errors: list[FieldError] = []
    if not programmes:
        errors.append(FieldError(("programmes",), "an organisation runs at least one programme"))
    for vocabulary, entries in given.items():
        errors += _entry_errors(vocabulary, entries)
    errors += _neighbour_errors(districts)
    if errors:
        raise InvalidConfiguration(errors)
    # Validated from plain data, so that every entry is of the contract's own class (not an input
    # schema's subclass) and equal to the same configuration loaded from the database.
    return OrganisationConfiguration.model_validate(
        {
            "organisation_id": organisation_id,
            **{vocabulary: [e.model_dump() for e in entries] for vocabulary, entries in given.items()},
            "districts": _symmetric(districts),
        }
    )


def _entry_errors(vocabulary: str, entries: Sequence[VocabularyEntry]) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if entry.code in seen:
            errors.append(FieldError((vocabulary, index, "code"), f"code {entry.code!r} is listed twice"))
        seen.add(entry.code)
        for language in ("sv", "en"):
            if not getattr(entry.labels, language).strip():
                errors.append(FieldError((vocabulary, index, "labels", language), "a label cannot be blank"))
    return errors


def _neighbour_errors(districts: Sequence[District]) -> list[FieldError]:
    known = {d.code for d in districts}
    errors: list[FieldError] = []
    for index, district in enumerate(districts):
        seen: set[str] = set()
        for position, neighbour in enumerate(district.neighbours):
            field = ("districts", index, "neighbours", position)
            if neighbour == district.code:
                errors.append(FieldError(field, "a district is not its own neighbour"))
            elif neighbour not in known:
                errors.append(FieldError(field, f"unknown district {neighbour!r}"))
            elif neighbour in seen:
                errors.append(FieldError(field, f"neighbour {neighbour!r} is listed twice"))
            seen.add(neighbour)
    return errors


def _symmetric(districts: Sequence[District]) -> list[dict[str, Any]]:
    """Each district's own neighbours in the order given, then those that named it, in district order."""
    named_by: dict[str, list[str]] = {d.code: [] for d in districts}
    for district in districts:
        for neighbour in district.neighbours:
            named_by[neighbour].append(district.code)
    symmetric = []
    for district in districts:
        own = set(district.neighbours)
        added = [code for code in named_by[district.code] if code not in own]
        symmetric.append({**district.model_dump(), "neighbours": [*district.neighbours, *added]})
    return symmetric


def codes_of(configuration: OrganisationConfiguration) -> dict[str, frozenset[str]]:
    return {vocabulary: frozenset(e.code for e in getattr(configuration, vocabulary)) for vocabulary in VOCABULARIES}


def missing_codes(
    configuration: OrganisationConfiguration, in_use: Mapping[str, set[str] | frozenset[str]]
) -> dict[str, list[str]]:
    """The codes in use, per vocabulary, that ``configuration`` does not have (sorted; empty if none)."""
    known = codes_of(configuration)
    missing = {vocabulary: sorted(set(codes) - known[vocabulary]) for vocabulary, codes in in_use.items()}
    return {vocabulary: codes for vocabulary, codes in missing.items() if codes}


def unknown_codes(configuration: OrganisationConfiguration | None, values: Mapping[str, Any]) -> list[FieldError]:
    """Field errors for the codes in ``values`` (registration fields: programme, district, interests,
    campaign, referral_source; others are ignored) that the organisation's configuration lacks."""
    return unknown_codes_in(None if configuration is None else codes_of(configuration), values)


def unknown_codes_in(known: Mapping[str, frozenset[str]] | None, values: Mapping[str, Any]) -> list[FieldError]:
    """``unknown_codes`` against a configuration's ``codes_of`` (None: no configuration), for a caller that
    keeps those sets instead of building them again for every registration."""
    present = [name for name in FIELD_VOCABULARY if name in values]
    if not present:
        return []
    if known is None:
        return [
            FieldError(
                ("programme",),
                "this organisation has no configuration yet: an admin must configure its programmes and "
                "vocabularies first (PUT /configuration)",
            )
        ]
    errors: list[FieldError] = []
    for name in present:
        vocabulary = known[FIELD_VOCABULARY[name]]
        value = values[name]
        if name == "interests":
            for index, code in enumerate(value or ()):
                if code not in vocabulary:
                    errors.append(FieldError((name, index), f"unknown interest {code!r}"))
        elif value is not None and value not in vocabulary:
            errors.append(FieldError((name,), f"unknown {name.replace('_', ' ')} {value!r}"))
    return errors


@dataclass
class ConfigurationAggregate:
    """The stored configuration and its version (+1 on every change, carried by its event)."""

    configuration: OrganisationConfiguration
    version: int

    @classmethod
    def create(
        cls, configuration: OrganisationConfiguration, in_use: Mapping[str, set[str] | frozenset[str]]
    ) -> ConfigurationAggregate:
        # Participants may predate the configuration (registered before it existed): cover them too.
        if missing := missing_codes(configuration, in_use):
            raise CodesInUse(missing)
        return cls(configuration, version=1)

    def replace(
        self, configuration: OrganisationConfiguration, in_use: Mapping[str, set[str] | frozenset[str]]
    ) -> bool:
        """Take the new configuration; False (nothing to store or announce) when it is the same."""
        if configuration == self.configuration:
            return False
        if missing := missing_codes(configuration, in_use):
            raise CodesInUse(missing)
        self.configuration = configuration
        self.version += 1
        return True
