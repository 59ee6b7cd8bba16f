"""Registration bodies: the demo programme's generator (``sprakvan_cli.demo``), the same people that
``sprakvan up --demo`` registers, as many as asked for, each checked against intake's own rules so that
no 422 is benchmarked."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sprakvan_cli.demo import demo_programme, split_size
from sprakvan_intake.domain.commands import RegisterParticipant
from sprakvan_intake.domain.model import ParticipantDetails, check_details


def make_bodies(count: int, seed: int) -> list[dict[str, Any]]:
    newcomers, established = split_size(count)
    bodies = [
        participant.body for participant in demo_programme(newcomers=newcomers, established=established, seed=seed)
    ]
    today = datetime.now(UTC).date()
    for body in bodies:
        command = RegisterParticipant.model_validate(body)
        details = ParticipantDetails.model_validate(command.model_dump(exclude={"role"}))
        errors = check_details(command.role, details, today)
        if errors:
            raise AssertionError(f"the demo generator made an invalid registration: {errors}")
    return bodies
