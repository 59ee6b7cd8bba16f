"""The intake domain alone: no database, no broker, microseconds per test."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from sprakvan_intake.domain.model import (
    Consent,
    Interview,
    InvalidParticipant,
    InvalidTransition,
    Participant,
    ParticipantDetails,
    ParticipantStatus,
    check_details,
)
from sprakvan_shared.contracts.intake import ParticipantRole, WithdrawalReason

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TODAY = NOW.date()


def details(**overrides: object) -> ParticipantDetails:
    base: dict[str, object] = {
        "first_name": "Amina",
        "last_name": "Haddad",
        "phone": "+46701234567",
        "gender": "woman",
        "birth_year": 1990,
        "programme": "sprakvan",
        "district": "skaggetorp",
        "languages": [{"code": "ar", "level": "native"}],
        "swedish_level": "A1",
        "consent": Consent(data_processing=True, given_at=NOW),
    }
    return ParticipantDetails.model_validate({**base, **overrides})


def fields(errors: list) -> set[tuple]:
    return {error.field for error in errors}


def test_a_valid_newcomer_has_no_errors() -> None:
    assert check_details(ParticipantRole.NEWCOMER, details(), TODAY) == []


def test_an_established_resident_needs_a_capacity_of_one_to_three() -> None:
    no_level = details(swedish_level=None)
    assert fields(check_details(ParticipantRole.ESTABLISHED, no_level, TODAY)) == {("capacity",)}
    for capacity in (0, 4):
        assert fields(check_details(ParticipantRole.ESTABLISHED, details(capacity=capacity), TODAY)) == {("capacity",)}
    assert check_details(ParticipantRole.ESTABLISHED, details(capacity=3), TODAY) == []


def test_birth_year_in_the_future_is_refused_relative_to_today() -> None:
    assert fields(check_details(ParticipantRole.NEWCOMER, details(birth_year=2027), TODAY)) == {("birth_year",)}
    assert check_details(ParticipantRole.NEWCOMER, details(birth_year=2027), date(2027, 1, 1)) == []


@pytest.mark.parametrize("code", ["prs", "ckb", "ti", "so", "uk"])
def test_languages_of_newcomers_without_two_letter_codes_are_known(code: str) -> None:
    assert check_details(ParticipantRole.NEWCOMER, details(languages=[{"code": code, "level": "native"}]), TODAY) == []


def test_duplicate_language_and_slot_are_refused() -> None:
    twice = details(
        languages=[{"code": "ar", "level": "native"}, {"code": "ar", "level": "basic"}],
        availability=[{"weekday": "mon", "part_of_day": "evening"}] * 2,
    )
    assert fields(check_details(ParticipantRole.NEWCOMER, twice, TODAY)) == {("languages",), ("availability",)}


def test_registration_refuses_all_broken_rules_at_once() -> None:
    broken = details(birth_year=1850, phone=None, consent=Consent(data_processing=False, given_at=NOW))
    with pytest.raises(InvalidParticipant) as caught:
        Participant.register(organisation_id="x1", role=ParticipantRole.NEWCOMER, details=broken, now=NOW)
    assert fields(caught.value.errors) == {("birth_year",), ("email",), ("consent", "data_processing")}


def registered() -> Participant:
    return Participant.register(organisation_id="x1", role=ParticipantRole.NEWCOMER, details=details(), now=NOW)


def test_each_change_bumps_the_version_and_a_no_op_does_not() -> None:
    p = registered()
    assert p.version == 1
    assert p.update({"district": "berga"}, NOW) is True
    assert p.update({"district": "berga"}, NOW) is False
    p.record_interview(Interview(held_on=TODAY, coordinator="c"), NOW)
    assert (p.version, p.status) == (3, ParticipantStatus.INTERVIEWED)


def test_withdrawn_and_erased_participants_cannot_change() -> None:
    p = registered()
    p.withdraw(WithdrawalReason.NO_TIME, NOW)
    with pytest.raises(InvalidTransition):
        p.update({"district": "ryd"}, NOW)
    with pytest.raises(InvalidTransition):
        p.record_interview(Interview(held_on=TODAY, coordinator="c"), NOW)
    p.erase(NOW)
    assert p.details is None and p.status is ParticipantStatus.ERASED
    with pytest.raises(InvalidTransition):
        p.erase(NOW)


def test_the_latest_interview_date_is_kept() -> None:
    p = registered()
    p.record_interview(Interview(held_on=date(2026, 11, 20), coordinator="c"), NOW)
    p.record_interview(Interview(held_on=date(2026, 11, 10), coordinator="c"), NOW)
    assert p.interviewed_on == date(2026, 11, 20)
