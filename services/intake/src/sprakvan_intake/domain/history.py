"""A registration as it happened, brought in from a programme's spreadsheet (issue 13): the participant's
life replayed with its real dates, and a later correction of it. Plain rules, no I/O.

Each step of the life is its own version, so that the service layer can announce it with the event the
system would have published then (registered, interviewed, withdrawn, each with its effective date).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Self

from sprakvan_shared.contracts.intake import ParticipantRole, ParticipantStatus, WithdrawalReason

from .model import FieldError, Interview, InvalidParticipant, Participant, ParticipantDetails, check_details


class Step(StrEnum):
    """What a step of an imported history announces (the event type's last word)."""

    REGISTERED = "registered"
    INTERVIEWED = "interviewed"
    WITHDRAWN = "withdrawn"
    UPDATED = "updated"


class HistoryRuleBroken(InvalidParticipant):
    """A rule of the participant's life (a date before its registration, a withdrawal undone, ...)."""


@dataclass(frozen=True)
class History:
    """A participant's registration and life, with the moments each happened."""

    role: ParticipantRole
    details: ParticipantDetails
    registered_at: datetime
    interview: Interview | None = None
    withdrawn_at: datetime | None = None
    withdrawal_reason: WithdrawalReason | None = None

    def rule_errors(self, now: datetime) -> list[FieldError]:
        """The dates in order and none after today (days as in ``now``'s time zone; the details' own rules
        are ``check_details``)."""
        errors: list[FieldError] = []
        today = now.date()

        def day(moment: datetime) -> date:
            return moment.astimezone(now.tzinfo).date()

        if day(self.registered_at) > today:
            errors.append(FieldError(("registered_on",), "the registration date is in the future"))
        if self.interview is not None:
            if self.interview.held_on > today:
                errors.append(FieldError(("interviewed_on",), "the interview date is in the future"))
            if self.interview.held_on < day(self.registered_at):
                errors.append(FieldError(("interviewed_on",), "the interview is before the registration"))
        if self.withdrawn_at is not None:
            if day(self.withdrawn_at) > today:
                errors.append(FieldError(("withdrawn_on",), "the withdrawal date is in the future"))
            if self.withdrawn_at < self.registered_at:
                errors.append(FieldError(("withdrawn_on",), "the withdrawal is before the registration"))
            if self.interview is not None and self.interview.held_on > day(self.withdrawn_at):
                errors.append(FieldError(("interviewed_on",), "the interview is after the withdrawal"))
        return errors

    def check(self, now: datetime) -> None:
        """Raises ``InvalidParticipant`` for the details' rules, ``HistoryRuleBroken`` for the dates'."""
        if errors := check_details(self.role, self.details, now.date()):
            raise InvalidParticipant(errors)
        if errors := self.rule_errors(now):
            raise HistoryRuleBroken(errors)

    @property
    def status(self) -> ParticipantStatus:
        if self.withdrawn_at is not None:
            return ParticipantStatus.WITHDRAWN
        return ParticipantStatus.INTERVIEWED if self.interview is not None else ParticipantStatus.REGISTERED


@dataclass
class Replayed:
    """The participant after its history, and each step's snapshot in order (for its event)."""

    participant: Participant
    steps: list[tuple[Step, Participant]]

    def record(self, step: Step) -> Self:
        self.steps.append((step, self.participant.model_copy()))
        return self


def replay_history(organisation_id: str, history: History, now: datetime) -> Replayed:
    """A new participant registered, interviewed and withdrawn at the history's moments."""
    history.check(now)
    participant = Participant.register(
        organisation_id=organisation_id, role=history.role, details=history.details, now=history.registered_at
    )
    replayed = Replayed(participant, []).record(Step.REGISTERED)
    if history.interview is not None:
        interviewed_at = max(history.registered_at, _midday(history.interview.held_on, history.registered_at))
        participant.record_interview(history.interview, interviewed_at)
        replayed.record(Step.INTERVIEWED)
    if history.withdrawn_at is not None and history.withdrawal_reason is not None:
        participant.withdraw(history.withdrawal_reason, history.withdrawn_at)
        replayed.record(Step.WITHDRAWN)
    participant.updated_at = now
    return replayed


def correct_history(participant: Participant, history: History, now: datetime) -> Replayed:
    """The participant as the corrected history has it. What the life gained (an interview, a withdrawal)
    is announced as that step; any other difference as one ``updated``. A role, an interview or a
    withdrawal cannot be taken back: register anew under another key instead."""
    history.check(now)
    errors: list[FieldError] = []
    if history.role is not participant.role:
        errors.append(FieldError(("role",), "the role cannot change; import the person under a new key"))
    if history.interview is None and participant.interviewed_on is not None:
        errors.append(FieldError(("interviewed_on",), "an interview cannot be taken back"))
    if history.withdrawn_at is None and participant.withdrawn_at is not None:
        errors.append(FieldError(("withdrawn_on",), "a withdrawal cannot be taken back"))
    if errors:
        raise HistoryRuleBroken(errors)
    replayed = Replayed(participant, [])
    newly_interviewed = history.interview is not None and participant.interviewed_on is None
    newly_withdrawn = history.withdrawn_at is not None and participant.withdrawn_at is None
    corrected = (
        participant.details != history.details
        or participant.registered_at != history.registered_at
        or (not newly_interviewed and history.interview and participant.interviewed_on != history.interview.held_on)
        or (not newly_withdrawn and participant.withdrawn_at != history.withdrawn_at)
        or (not newly_withdrawn and participant.withdrawal_reason != history.withdrawal_reason)
    )
    if corrected:
        participant.details = history.details
        participant.registered_at = history.registered_at
        if not newly_interviewed and history.interview is not None:
            participant.interviewed_on = history.interview.held_on
        if not newly_withdrawn:
            participant.withdrawn_at = history.withdrawn_at
            participant.withdrawal_reason = history.withdrawal_reason
        participant.version += 1
        replayed.record(Step.UPDATED)
    if newly_interviewed and history.interview is not None:
        if participant.withdrawn_at is None:
            participant.status = ParticipantStatus.INTERVIEWED
        participant.interviewed_on = history.interview.held_on
        participant.version += 1
        replayed.record(Step.INTERVIEWED)
    if newly_withdrawn and history.withdrawal_reason is not None:
        participant.status = ParticipantStatus.WITHDRAWN
        participant.withdrawn_at = history.withdrawn_at
        participant.withdrawal_reason = history.withdrawal_reason
        participant.version += 1
        replayed.record(Step.WITHDRAWN)
    if replayed.steps:
        participant.updated_at = now
    return replayed


def _midday(day: date, like: datetime) -> datetime:
    """12:00 of ``day`` in the time zone of ``like``: the interview is a day, its step needs a moment."""
    return datetime.combine(day, like.timetz()).replace(hour=12, minute=0, second=0, microsecond=0)
