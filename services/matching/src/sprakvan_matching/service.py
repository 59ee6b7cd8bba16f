"""The matching service, as the kit and the ``sprakvan`` CLI see it (entry point ``sprakvan.services``)."""

from __future__ import annotations

from sprakvan_shared.consumer import EventConsumer
from sprakvan_shared.contracts.intake import (
    INTAKE_STREAM,
    OrganisationConfigured,
    ParticipantErased,
    ParticipantInterviewed,
    ParticipantRegistered,
    ParticipantUpdated,
    ParticipantWithdrawn,
)
from sprakvan_shared.contracts.matching import MATCHING_EVENTS
from sprakvan_shared.kit import Service

from .entrypoints.history import history
from .entrypoints.http import ROUTERS, install_error_handlers
from .service_layer import read_model
from .settings import MatchingSettings

intake = EventConsumer("matching", INTAKE_STREAM)
for participant_event in (ParticipantRegistered, ParticipantUpdated, ParticipantInterviewed, ParticipantWithdrawn):
    intake.on(participant_event)(read_model.on_participant)
intake.on(ParticipantErased)(read_model.on_erased)
intake.on(OrganisationConfigured)(read_model.on_organisation)

SERVICE = Service(
    name="matching",
    default_port=8002,
    description="Optimal, explainable pair proposals and the whole life of a pair; publishes pair.* events",
    settings=MatchingSettings,
    routers=(*ROUTERS, history),
    publishes=MATCHING_EVENTS,
    consumers=(intake,),
    error_handlers=install_error_handlers,
)
