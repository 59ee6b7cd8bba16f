"""An imported participant's life, in the domain alone: each step its own version, dates in order, and
what a later import may correct and what it may not take back."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from sprakvan_intake.domain.history import History, HistoryRuleBroken, Step, correct_history, replay_history
from sprakvan_intake.domain.model import Consent, Interview, ParticipantStatus
from sprakvan_shared.contracts.intake import ParticipantRole, WithdrawalReason

from .test_domain import details as registration

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
REGISTERED = datetime(2024, 3, 5, 11, 0, tzinfo=UTC)


def details(**overrides: object):  # noqa: ANN201
    return registration(consent=Consent(data_processing=True, given_at=REGISTERED), **overrides)


def history(**overrides: object) -> History:
    values: dict[str, object] = {"role": ParticipantRole.NEWCOMER, "details": details(), "registered_at": REGISTERED}
    return History(**{**values, **overrides})  # type: ignore[arg-type]


def interview(day: date) -> Interview:
    return Interview(held_on=day, coordinator="coordinator-1")


def test_a_whole_life_is_replayed_a_version_per_step_with_its_dates() -> None:
    withdrawn = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
    replayed = replay_history(
        "linkoping",
        history(
            interview=interview(date(2024, 3, 12)), withdrawn_at=withdrawn, withdrawal_reason=WithdrawalReason.MOVED
        ),
        NOW,
    )
    steps = [
        (step, p.version, p.status, p.registered_at, p.interviewed_on, p.withdrawn_at) for step, p in replayed.steps
    ]
    assert steps == [
        (Step.REGISTERED, 1, ParticipantStatus.REGISTERED, REGISTERED, None, None),
        (Step.INTERVIEWED, 2, ParticipantStatus.INTERVIEWED, REGISTERED, date(2024, 3, 12), None),
        (Step.WITHDRAWN, 3, ParticipantStatus.WITHDRAWN, REGISTERED, date(2024, 3, 12), withdrawn),
    ]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"registered_at": datetime(2027, 1, 1, tzinfo=UTC)}, "registered_on"),
        ({"interview": interview(date(2024, 3, 1))}, "interviewed_on"),
        ({"withdrawn_at": datetime(2024, 3, 4, tzinfo=UTC), "withdrawal_reason": WithdrawalReason.NO_TIME},
         "withdrawn_on"),
        (
            {"interview": interview(date(2024, 7, 1)), "withdrawn_at": datetime(2024, 6, 1, tzinfo=UTC),
             "withdrawal_reason": WithdrawalReason.MOVED},
            "interviewed_on",
        ),
    ],
)  # fmt: skip
def test_dates_out_of_order_or_in_the_future_break_a_rule(overrides: dict, field: str) -> None:
    with pytest.raises(HistoryRuleBroken) as caught:
        replay_history("linkoping", history(**overrides), NOW)
    assert [e.field for e in caught.value.errors] == [(field,)]


def test_a_correction_announces_what_the_life_gained_and_takes_nothing_back() -> None:
    participant = replay_history("linkoping", history(), NOW).participant
    corrected = correct_history(
        participant, history(details=details(district="ryd"), interview=interview(date(2024, 4, 1))), NOW
    )
    assert [(step, p.version, p.details.district) for step, p in corrected.steps] == [
        (Step.UPDATED, 2, "ryd"),
        (Step.INTERVIEWED, 3, "ryd"),
    ]
    assert correct_history(participant, history(details=details(district="ryd"), interview=interview(date(2024, 4, 1))),
                           NOW).steps == []  # fmt: skip
    with pytest.raises(HistoryRuleBroken) as caught:
        correct_history(
            participant, history(role=ParticipantRole.ESTABLISHED, details=details(district="ryd", capacity=2)), NOW
        )
    assert {e.field for e in caught.value.errors} == {("role",), ("interviewed_on",)}


def test_a_registration_of_today_is_not_in_the_future_before_noon() -> None:
    stockholm = ZoneInfo("Europe/Stockholm")
    morning = datetime(2026, 11, 25, 9, 0, tzinfo=stockholm)
    noon = datetime(2026, 11, 25, 12, 0, tzinfo=stockholm)  # a row's "2026-11-25"
    today = history(registered_at=noon, details=registration(consent=Consent(data_processing=True, given_at=noon)))
    assert replay_history("linkoping", today, morning).participant.registered_at == noon
