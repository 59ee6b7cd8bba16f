"""The registration's answer and the stored row's details are cut from the details' JSON, made once: they
must be exactly what serialising ``ParticipantOut`` and the details without the identity gives."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sprakvan_cli.demo import demo_programme
from sprakvan_intake.adapters.repository import stored_details
from sprakvan_intake.domain.commands import RegisterParticipant
from sprakvan_intake.domain.model import Interview, Participant, ParticipantDetails
from sprakvan_intake.entrypoints.schemas import ParticipantOut
from sprakvan_shared.contracts.intake import WithdrawalReason

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
IDENTITY = {"first_name", "last_name", "email", "phone"}
# Names a JSON cut could trip on: quotes, backslashes, the very key the cut looks for, other scripts.
AWKWARD = ['Å"sa', 'x","programme":"y', "back\\slash", ',"programme":', "مرحبا ትግርኛ", "O'Brien"]


def _participants() -> list[Participant]:
    found = []
    for index, person in enumerate(demo_programme(newcomers=30, established=30, seed=11)):
        command = RegisterParticipant.model_validate(person.body)
        details = ParticipantDetails.model_validate(command.model_dump(exclude={"role"}))
        awkward = AWKWARD[(index // 3) % len(AWKWARD)]
        if index % 3 == 0:  # model_copy: the copy's JSON is its own, not the original's
            details.as_json  # noqa: B018 - made before the copy
            details = details.model_copy(update={"first_name": awkward, "last_name": awkward[::-1]})
        participant = Participant.register(
            organisation_id="org-a", role=command.role, details=details, now=NOW.replace(microsecond=index)
        )
        if index % 4 == 1:
            participant.record_interview(Interview(held_on=date(2026, 11, 20), coordinator="c"), NOW)
        if index % 5 == 2:
            participant.withdraw(WithdrawalReason.MOVED, NOW)
        found.append(participant)
    return found


def test_the_answer_and_the_stored_details_are_what_serialising_them_gives() -> None:
    participants = _participants()
    assert any(p.details and p.details.first_name == 'x","programme":"y' for p in participants)
    for participant in participants:
        assert participant.details is not None
        assert ParticipantOut.json_of(participant) == ParticipantOut.of(participant).model_dump_json()
        assert stored_details(participant.details) == participant.details.model_dump_json(exclude=IDENTITY)
