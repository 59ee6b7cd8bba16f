"""Sending a plan to the services, kind by kind in dependency order, in chunks of at most 1000 rows.

Participants go first; intake answers each key with the participant's id, and the later sheets are sent
with those ids. A row whose participant was refused is held back. A service that refuses a row with
``unknown_reference`` on a participant it has not heard of *yet* (it learns of participants from intake's
events over NATS) gets that row again with backoff, for ``reference_wait`` seconds, before it is reported.

A dry run sends everything with ``dry_run: true``: nothing is written, so a row that refers to a participant
or row this import would create cannot be checked by its service for that reference; such a refusal (only
``unknown_reference`` on that field) counts as "would be created", and the report says how many rows
assumed so.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .plan import KindPlan, Plan, Planned, Problem, Unmapped, hold_back
from .services import ServiceError, ServiceFailed, Services, participant_ids

CHUNK = 1000
# The events service's dry run takes the keys of earlier kinds that their dry run would create
# (``planned_keys``) and checks the rows naming them as far as it can; the other services refuse extra fields.
_DRY_RUN_PLANNED = {"events": ("venues", "activities", "occurrences")}
REFERENCE_WAIT = 60.0
_PLACEHOLDER = uuid.UUID("5b0c1c52-4f0e-4d7e-9a53-2d3a0e6f6a11")  # for participants a dry run would create

Progress = Callable[[str, int, int], None]  # kind, rows done, rows in all


@dataclass
class KindReport:
    kind: str
    sheet: str
    rows: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    assumed: int = 0  # dry run: counted as created, though a reference could not be checked
    problems: list[Problem] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def refused(self) -> int:
        """Rows refused (a row may have several problems)."""
        return len({p.row for p in self.problems})

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "sheet": self.sheet, "rows": self.rows, "created": self.created,
            "updated": self.updated, "unchanged": self.unchanged, "refused": self.refused, "assumed": self.assumed,
            "seconds": round(self.seconds, 3), "ignored_columns": self.ignored_columns,
            "problems": [p.__dict__ for p in sorted(self.problems, key=lambda p: p.row)],
        }  # fmt: skip


@dataclass
class ImportReport:
    dry_run: bool
    kinds: list[KindReport]
    unmapped: list[Unmapped]
    ignored_sheets: list[str]

    @property
    def refused(self) -> int:
        return sum(k.refused for k in self.kinds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "refused": self.refused,
            "kinds": [k.to_dict() for k in self.kinds],
            "unmapped": [u.__dict__ for u in self.unmapped],
            "ignored_sheets": self.ignored_sheets,
        }


@dataclass
class _State:
    dry_run: bool
    ids: dict[str, dict[str, str]] = field(default_factory=dict)  # kind -> key -> id
    refused: dict[str, set[str]] = field(default_factory=dict)  # kind -> keys refused
    planned_keys: dict[str, set[str]] = field(default_factory=dict)  # kind -> keys this import sends
    would_create: dict[str, set[str]] = field(default_factory=dict)  # dry run: kind -> keys not there yet
    earlier_participants: dict[str, str] | None = None  # key -> id of participants imported before


async def run_import(
    plan: Plan,
    services: Services,
    *,
    dry_run: bool,
    progress: Progress | None = None,
    reference_wait: float = REFERENCE_WAIT,
    after_kind: Callable[[KindReport], Awaitable[None]] | None = None,
) -> ImportReport:
    """``after_kind`` is awaited after each kind is sent (a benchmark waits there for the events to spread)."""
    state = _State(dry_run)
    for name, kind_plan in plan.kinds.items():
        state.refused[name] = {p.key for p in kind_plan.refused}
        state.planned_keys[name] = {r.key for r in kind_plan.rows}
    reports = []
    for kind_plan in plan.kinds.values():
        started = time.monotonic()
        report = KindReport(
            kind_plan.kind.name, kind_plan.sheet, len(kind_plan.rows) + len(kind_plan.refused),
            problems=list(kind_plan.refused), ignored_columns=list(kind_plan.ignored_columns),
        )  # fmt: skip
        await _send_kind(kind_plan, services, state, report, progress, reference_wait)
        report.seconds = time.monotonic() - started
        reports.append(report)
        if after_kind is not None:
            await after_kind(report)
    return ImportReport(dry_run, reports, plan.unmapped, plan.ignored_sheets)


async def _send_kind(
    kind_plan: KindPlan,
    services: Services,
    state: _State,
    report: KindReport,
    progress: Progress | None,
    reference_wait: float,
) -> None:
    name = kind_plan.kind.name
    pending = KindPlan(kind_plan.kind, kind_plan.sheet, kind_plan.headers, rows=list(kind_plan.rows))
    held = hold_back(pending, lambda kind: state.refused.get(kind, set()))
    report.problems.extend(held)
    state.refused.setdefault(name, set()).update(p.key for p in held)
    rows: list[tuple[Planned, dict[str, Any]]] = []
    for planned in pending.rows:
        body, problem = await _body(planned, kind_plan, services, state)
        if problem is not None:
            report.problems.append(problem)
            state.refused[name].add(planned.key)
        else:
            rows.append((planned, body))
    deadline: float | None = None
    done = attempt = 0
    while rows:
        retry: list[tuple[Planned, dict[str, Any]]] = []
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            retry += await _send_chunk(kind_plan, services, state, report, chunk)
            if deadline is None:
                done += len(chunk)
                if progress is not None:
                    progress(name, done, len(rows))
        if not retry:
            break
        now = time.monotonic()
        deadline = deadline if deadline is not None else now + reference_wait
        if now >= deadline:
            service = kind_plan.kind.service
            message = f"the {service} service had not heard of this participant in {reference_wait:.0f} s"
            for planned, _ in retry:
                where = next(iter(planned.participants), "row")
                report.problems.append(kind_plan.problem(planned.row, planned.key, where, "unknown_reference", message))
                state.refused[name].add(planned.key)
            break
        await asyncio.sleep(min(0.25 * 2**attempt, 4.0, max(deadline - now, 0)))
        attempt += 1
        rows = retry


async def _body(
    planned: Planned, kind_plan: KindPlan, services: Services, state: _State
) -> tuple[dict[str, Any], Problem | None]:
    body: dict[str, Any] = {"row": planned.row, "key": planned.key, **planned.fields}
    for field_, key in planned.participants.items():
        participant_id = state.ids.get("participants", {}).get(key)
        if participant_id is None and key not in state.planned_keys.get("participants", set()):
            participant_id = (await _earlier_participants(services, state)).get(key)
            if participant_id is None:
                message = "no participant with this key in the file or imported before"
                return body, kind_plan.problem(planned.row, planned.key, field_, "unknown_reference", message)
        if participant_id is None or key in state.would_create.get("participants", ()):
            # a dry run: intake would create it; any id it gave is not one the other services know
            participant_id = str(uuid.uuid5(_PLACEHOLDER, key))
        body[field_] = participant_id
    return body, None


async def _earlier_participants(services: Services, state: _State) -> dict[str, str]:
    """Keys of participants imported by an earlier run (from intake's export), fetched once when needed."""
    if state.earlier_participants is None:
        state.earlier_participants = {}
        try:
            rows = [row async for row in services.export_rows("intake", "participants")]
            state.earlier_participants = participant_ids(rows)
        except ServiceError:
            pass  # no export to look in: the reference is reported as unknown
    return state.earlier_participants


def _waits_for_participant(planned: Planned, errors: list[dict[str, Any]], state: _State) -> bool:
    """Refused only because its service has not heard of a participant that intake has accepted."""
    accepted = state.ids.get("participants", {})
    return bool(errors) and all(
        e.get("code") == "unknown_reference"
        and any(_names(e.get("field", ""), f) and k in accepted for f, k in planned.participants.items())
        for e in errors
    )


def _assumed_in_dry_run(planned: Planned, errors: list[dict[str, Any]], state: _State) -> bool:
    """A dry run's refusal only for references to rows this import would create."""
    if not state.dry_run or not errors:
        return False
    created = state.would_create.get("participants", set())
    new = {f for f, k in planned.participants.items() if k in created or k not in state.ids.get("participants", {})}
    new |= {f for f, (kind, k) in planned.keys.items() if k in state.would_create.get(kind, set())}
    return all(e.get("code") == "unknown_reference" and any(_names(e.get("field", ""), f) for f in new) for e in errors)


def _names(error_field: str, field_: str) -> bool:
    return error_field == field_ or error_field.endswith("." + field_) or error_field.startswith(field_ + ".")


async def _send_chunk(
    kind_plan: KindPlan,
    services: Services,
    state: _State,
    report: KindReport,
    chunk: list[tuple[Planned, dict[str, Any]]],
) -> list[tuple[Planned, dict[str, Any]]]:
    """One request; returns the rows to send again (waiting for a participant to reach the service)."""
    kind = kind_plan.kind
    extra = {}
    if state.dry_run and kind.service in _DRY_RUN_PLANNED:
        named = {ref for planned, _ in chunk for ref in planned.keys.values()}  # only this chunk's: bodies are small
        planned_keys: dict[str, set[str]] = {}
        for target, key in named:
            if target in _DRY_RUN_PLANNED[kind.service] and key in state.would_create.get(target, ()):
                planned_keys.setdefault(target, set()).add(key)
        extra = {"planned_keys": {k: sorted(v) for k, v in planned_keys.items()}} if planned_keys else {}
    try:
        response = await services.import_rows(
            kind.service, kind.name, [body for _, body in chunk], state.dry_run, **extra
        )
    except ServiceFailed as exc:  # the next chunks may still go in; the same file again completes this one
        message = f"{exc}; import the file again (rows that did get in are then unchanged)"
        for planned, _ in chunk:
            report.problems.append(kind_plan.problem(planned.row, planned.key, "row", "service_failed", message))
            state.refused[kind.name].add(planned.key)
        return []
    by_row = {planned.row: (planned, body) for planned, body in chunk}
    if response.status_code != 200:
        problems = _whole_request_problems(kind_plan, [planned for planned, _ in chunk], response)
        report.problems.extend(problems)
        state.refused[kind.name].update(p.key for p in problems)
        return []
    retry = []
    for result in response.json().get("results", ()):
        planned, body = by_row[result["row"]]
        outcome = result.get("outcome")
        if result.get("id"):
            state.ids.setdefault(kind.name, {})[planned.key] = str(result["id"])
        if outcome in ("created", "updated", "unchanged"):
            setattr(report, outcome, getattr(report, outcome) + 1)
            if outcome == "created" and state.dry_run:
                state.would_create.setdefault(kind.name, set()).add(planned.key)
            continue
        errors = list(result.get("errors") or ())
        if not state.dry_run and _waits_for_participant(planned, errors, state):
            retry.append((planned, body))
        elif _assumed_in_dry_run(planned, errors, state):
            report.created += 1
            report.assumed += 1
            state.would_create.setdefault(kind.name, set()).add(planned.key)
        else:
            state.refused[kind.name].add(planned.key)
            for error in errors or [{"field": "row", "code": "refused", "message": "refused without a reason"}]:
                field_, code, message = (str(error.get(k, "")) for k in ("field", "code", "message"))
                report.problems.append(kind_plan.problem(planned.row, planned.key, field_ or "row", code, message))
    return retry


def _whole_request_problems(kind_plan: KindPlan, chunk: list[Planned], response: Any) -> list[Problem]:
    """A request refused as a whole (404: no such import yet; 422: rows the service's schema refused)."""
    kind = kind_plan.kind
    if response.status_code == 404:
        message = f"the {kind.service} service has no import of {kind.name} (POST /imports/{kind.name}: 404)"
        return [kind_plan.problem(p.row, p.key, "row", "unavailable", message) for p in chunk]
    own: dict[int, tuple[str, str]] = {}
    try:
        for item in response.json().get("detail", ()):
            loc = [str(part) for part in item.get("loc", ())]
            if len(loc) >= 3 and loc[:2] == ["body", "rows"] and loc[2].isdigit():  # ["body", "rows", i, field...]
                own.setdefault(int(loc[2]), (".".join(loc[3:]) or "row", str(item.get("msg", ""))))
    except (ValueError, AttributeError, TypeError):
        pass
    general = f"the {kind.service} service refused the request ({response.status_code}) for another row"
    return [
        kind_plan.problem(p.row, p.key, *own.get(i, ("row", general))[:1], "invalid", own.get(i, ("", general))[1])
        for i, p in enumerate(chunk)
    ]
