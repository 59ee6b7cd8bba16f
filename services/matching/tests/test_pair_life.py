"""The life of a pair, the one-pair hard constraints and the explanation sentence."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.matching.tests.matching_factories import NEIGHBOURS, TODAY, candidate
from sprakvan_matching.adapters.candidate_store import candidate_of
from sprakvan_matching.domain.constraints import Broken, PairContext, check_pair
from sprakvan_matching.domain.explanation import explain
from sprakvan_matching.domain.model import (
    Attendee,
    Conversation,
    EndReason,
    FollowUpOutcome,
    InvalidTransition,
    Origin,
    Pair,
    PairStatus,
    ParticipantStatus,
    RejectionReason,
    Role,
    Wishes,
)
from sprakvan_matching.domain.scoring import ScoreTables, breakdown
from sprakvan_matching.domain.settings import LanguagePreference, ProgrammeSettings
from sprakvan_matching.domain.waiting import waiting_list
from sprakvan_matching.service_layer.events import pair_event

NOW = datetime(2026, 12, 1, 10, tzinfo=UTC)


def _proposal() -> Pair:
    return Pair.propose(
        organisation_id="linkoping",
        programme="sprakvan",
        newcomer_id=uuid.uuid4(),
        established_id=uuid.uuid4(),
        score={"total": 1.0, "criteria": []},
        round_id=uuid.uuid4(),
        now=NOW,
    )


def test_a_pair_goes_proposed_formed_active_followed_up_ended_one_version_a_step():
    proposed = _proposal()
    formed = proposed.accept(NOW)
    active = formed.activate(Conversation(TODAY, (Attendee.NEWCOMER, Attendee.ESTABLISHED)), NOW, TODAY)
    assert [f.due_on for f in active.follow_ups] == [TODAY + timedelta(days=35), TODAY + timedelta(days=182)]
    later = TODAY + timedelta(days=36)
    followed = active.record_follow_up(done_on=later, outcome=FollowUpOutcome.GOING_WELL, notes="bra", today=later)
    assert followed.follow_ups[0].done_on == later and followed.follow_ups[1].done_on is None
    ended = followed.end(EndReason.COMPLETED, later)
    assert [p.status for p in (proposed, formed, active, followed, ended)] == [
        PairStatus.PROPOSED,
        PairStatus.FORMED,
        PairStatus.ACTIVE,
        PairStatus.ACTIVE,
        PairStatus.ENDED,
    ]
    assert [p.version for p in (proposed, formed, active, followed, ended)] == [1, 2, 3, 4, 5]
    assert ended.end_reason is EndReason.COMPLETED and ended.formed_at == NOW and ended.activated_on == TODAY


def test_transitions_out_of_order_are_refused():
    proposed = _proposal()
    with pytest.raises(InvalidTransition):
        proposed.activate(Conversation(TODAY, ()), NOW, TODAY)
    with pytest.raises(InvalidTransition):
        proposed.end(EndReason.MOVED, TODAY)
    rejected = proposed.reject(RejectionReason.NEWCOMER_DECLINED, TODAY)
    assert rejected.end_reason is EndReason.REJECTED and rejected.rejection_reason is RejectionReason.NEWCOMER_DECLINED
    with pytest.raises(InvalidTransition):
        rejected.accept(NOW)
    with pytest.raises(ValueError):
        proposed.accept(NOW).end(EndReason.ERASED, TODAY)  # erasure is not a coordinator's reason
    with pytest.raises(ValueError):
        proposed.accept(NOW).activate(Conversation(TODAY + timedelta(days=1), ()), NOW, TODAY)


def test_closing_for_erasure_is_idempotent():
    pair = _proposal().accept(NOW)
    closed = pair.close(EndReason.ERASED, TODAY)
    assert closed.status is PairStatus.ENDED and closed.end_reason is EndReason.ERASED
    assert closed.close(EndReason.ERASED, TODAY) is closed


def test_a_meetup_pair_is_active_from_the_meetup_with_its_follow_ups():
    held = date(2026, 11, 20)
    pair = Pair.from_meetup(
        organisation_id="trollhattan",
        programme="sprakvan",
        newcomer_id=uuid.uuid4(),
        established_id=uuid.uuid4(),
        meetup_id=uuid.uuid4(),
        held_on=held,
        now=NOW,
        follow_up_days=(30,),
    )
    assert pair.origin is Origin.GROUP_MEETUP and pair.status is PairStatus.ACTIVE and pair.activated_on == held
    assert [f.due_on for f in pair.follow_ups] == [held + timedelta(days=30)]


def test_a_follow_up_can_be_added_and_recorded_off_schedule():
    active = _proposal().accept(NOW).activate(Conversation(TODAY, ()), NOW, TODAY, follow_up_days=())
    due = TODAY + timedelta(days=10)
    scheduled = active.schedule_follow_up(due)
    assert scheduled.schedule_follow_up(due) is scheduled
    done = scheduled.record_follow_up(done_on=due, outcome=FollowUpOutcome.NEEDS_SUPPORT, notes="", today=due)
    assert [(f.due_on, f.outcome) for f in done.follow_ups] == [(due, FollowUpOutcome.NEEDS_SUPPORT)]


def _two(**changes):
    rng = random.Random(9)
    common = dict(availability=frozenset({("tue", "evening")}), wishes=Wishes(), birth_year=1985, gender="woman")
    newcomer = candidate(rng, Role.NEWCOMER, **common)
    volunteer = candidate(rng, Role.ESTABLISHED, capacity=1, **common)
    return replace(newcomer, **changes.get("newcomer", {})), replace(volunteer, **changes.get("established", {}))


@pytest.mark.parametrize(
    ("changes", "context", "broken"),
    [
        ({}, {}, []),
        (
            {"newcomer": {"wishes": Wishes(same_gender=True)}, "established": {"gender": "man"}},
            {},
            ["newcomer_same_gender_wish"],
        ),
        (
            {"established": {"wishes": Wishes(same_gender=True), "gender": "non_binary"}},
            {},
            ["established_same_gender_wish"],
        ),
        ({"newcomer": {"wishes": Wishes(age_max=30)}}, {}, ["newcomer_age_wish"]),
        ({"established": {"wishes": Wishes(age_min=50)}}, {}, ["established_age_wish"]),
        ({"newcomer": {"availability": frozenset({("mon", "morning")})}}, {}, ["no_shared_availability"]),
        ({"newcomer": {"status": ParticipantStatus.WITHDRAWN}}, {}, ["newcomer_unavailable"]),
        ({"established": {"programme": "flyktingguide"}}, {}, ["programme"]),
        ({"established": {"organisation_id": "orsa"}}, {}, ["organisation"]),
        ({}, {"established_open_pairs": 1}, ["no_free_capacity"]),
        (
            {},
            {"newcomer_paired": True, "forbidden": True, "ended_before": True},
            ["newcomer_already_paired", "forbidden", "already_ended"],
        ),
        ({"newcomer": {"interviewed_on": None}}, {"require_interview": True}, ["newcomer_not_interviewed"]),
    ],
)
def test_each_hard_constraint_is_named_when_broken(changes, context, broken):
    newcomer, volunteer = _two(**changes)
    assert [b.value for b in check_pair(newcomer, volunteer, PairContext(year=TODAY.year, **context))] == broken


def test_two_newcomers_are_not_a_pair():
    newcomer, _ = _two()
    assert check_pair(newcomer, newcomer, PairContext(year=TODAY.year)) == [Broken.ROLES]


def test_the_explanation_tells_the_shared_things_in_swedish_and_english():
    newcomer, volunteer = _two(
        newcomer={"languages": frozenset({"ar", "sv"}), "interests": frozenset({"football"}), "district": "ryd"},
        established={
            "languages": frozenset({"ar", "sv", "en"}),
            "interests": frozenset({"football"}),
            "district": "lambohov",
        },
    )
    tables = ScoreTables.from_settings(ProgrammeSettings())
    explained = breakdown(newcomer, volunteer, tables=tables, neighbours=NEIGHBOURS, today=TODAY)
    text = explain(explained, {"football": {"sv": "fotboll", "en": "football"}})
    assert text["sv"].startswith(
        "Båda talar arabiska, båda gillar fotboll, grannstadsdelar, båda är lediga tisdagskvällar"
    )
    assert text["en"].startswith(
        "Both speak Arabic, both like football, neighbouring districts, both free Tuesday evenings"
    )
    data = explained.as_data()
    assert data["criteria"][0] == {"criterion": "languages", "points": 20.0, "shared": ["ar"]}


def test_swedish_only_preference_rewards_pairs_without_another_shared_language():
    newcomer, volunteer = _two(newcomer={"languages": frozenset({"ar"})}, established={"languages": frozenset({"sv"})})
    tables = ScoreTables.from_settings(ProgrammeSettings(language_preference=LanguagePreference.SWEDISH_ONLY))
    explained = breakdown(newcomer, volunteer, tables=tables, neighbours=NEIGHBOURS, today=TODAY)
    assert explained.criteria[0].points == 25 * 100
    assert explain(explained)["sv"].startswith("Inget gemensamt språk utom svenska, ")


def test_every_step_of_a_pair_becomes_a_full_state_event_without_notes():
    proposed = replace(
        _proposal(),
        score=breakdown(
            *_two(), tables=ScoreTables.from_settings(ProgrammeSettings()), neighbours={}, today=TODAY
        ).as_data(),
    )
    active = proposed.accept(NOW).activate(Conversation(TODAY, (Attendee.NEWCOMER,)), NOW, TODAY)
    done = active.record_follow_up(done_on=TODAY, outcome=FollowUpOutcome.GOING_WELL, notes="secret", today=TODAY)
    event = pair_event(done, "followed_up", correlation_id="c-1")
    assert event.subject == f"matching.pair.{done.pair_id}.followed_up"
    assert event.version == 4 and event.aggregate_id == str(done.pair_id)
    state = event.payload
    assert state.status is PairStatus.ACTIVE and state.proposed_at == NOW and state.activated_on == TODAY
    assert state.score.criteria[3].shared == ("tue_evening",)
    assert "secret" not in event.model_dump_json()
    assert type(event).model_validate_json(event.model_dump_json()) == event


def test_the_waiting_list_counts_who_waits_and_where_volunteers_are_missing():
    rng = random.Random(21)
    newcomers = [
        candidate(rng, Role.NEWCOMER, district="skaggetorp", registered_at=NOW - timedelta(days=d))
        for d in (10, 90, 40)
    ]
    newcomers.append(candidate(rng, Role.NEWCOMER, district="ryd", registered_at=NOW - timedelta(days=5)))
    withdrawn = candidate(rng, Role.NEWCOMER, district="ryd", status=ParticipantStatus.WITHDRAWN)
    paired = candidate(rng, Role.NEWCOMER, district="ryd")
    volunteers = [
        candidate(rng, Role.ESTABLISHED, district="skaggetorp", capacity=2),
        candidate(rng, Role.ESTABLISHED, district="ryd", capacity=3),
    ]
    result = waiting_list(
        [*newcomers, withdrawn, paired, *volunteers],
        paired_newcomers={paired.participant_id},
        open_pairs_by_volunteer={volunteers[0].participant_id: 1, volunteers[1].participant_id: 1},
        today=TODAY,
    )
    assert [w.waiting_days for w in result.waiting] == [90, 40, 10, 5]
    assert result.by_district == {"ryd": 1, "skaggetorp": 3}
    top = result.balance[0]
    assert (top.district, top.newcomers_waiting, top.free_places, top.shortfall) == ("skaggetorp", 3, 1, 2)
    assert top.newcomers_per_place == 3.0
    assert (result.balance[1].district, result.balance[1].free_places) == ("ryd", 2)
    assert result.median_waiting_days == 40 and sum(result.by_age_band.values()) == 4


def test_days_waited_count_from_the_registrations_local_day_not_its_utc_day() -> None:
    # 23:30 UTC on 2 November is 00:30 on 3 November in Linköping: on 2 December that is 29 days, not 30.
    row = dict(
        participant_id=uuid.uuid4(),
        organisation_id="linkoping",
        programme="sprakvan",
        role="newcomer",
        status="interviewed",
        gender="woman",
        birth_year=1990,
        district="ryd",
        registered_at=datetime(2026, 11, 2, 23, 30, tzinfo=UTC),
        languages=["ar"],
        interests=[],
        availability=["monday_evening"],
        same_gender=False,
        age_min=None,
        age_max=None,
        capacity=1,
        interviewed_on=None,
    )
    stored = candidate_of(row, ZoneInfo("Europe/Stockholm"))
    assert stored.registered_at == row["registered_at"]  # the same instant
    assert stored.waiting_days(date(2026, 12, 2)) == 29
