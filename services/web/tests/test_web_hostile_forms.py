"""Hostile input in every HTML form of the web front, on the whole system over HTTP (issue 6): the pages are
crawled as an admin (and the public sign-up and login pages as anyone), and each form found is posted as a
browser would (its hidden fields kept: CSRF token, idempotency key, version, time token) with every field
it shows set to a NUL, a lone surrogate or the year 1, and once with a 10 MB body. Every answer is handled
(a 4xx, the form again, or a redirect), never a 5xx, and no hostile value reaches a log line of any service.

The seed data makes what every form needs (pairs in each state, a proposal, a sign-up, import runs), so the
test fails for a POST route that no crawled page has a form for: a new route is covered by seeding it."""

from __future__ import annotations

import re
import uuid
from collections import deque
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from sprakvan_shared.auth import Role
from sprakvan_web.service_layer import accounts
from tests import factories
from tests.kit import ServiceStarter, eventually, mint_token

from .stack import WorkspaceStack, workspace_stack
from .test_workspace_import import history_file

IMPORT = "/workspace/settings/import"
MARKER = "Zq9xMarker"  # no log line may ever carry it
# As a browser sends them: percent-encoded UTF-8; a lone surrogate has no UTF-8 form, so its CESU bytes.
HOSTILE = {
    "NUL": quote(f"{MARKER}\x00"),
    "lone surrogate": quote(MARKER) + "%ED%A0%80",
    "year 1": quote("0001-01-01"),
}
# Links not to follow: files, feeds, other sites, and the way out.
_SKIP_LINK = re.compile(r"\.(ics|csv|svg|xlsx|pdf|css|js|png|woff2?)(\?|$)|^/(logout|static|calendar)/?")
# Forms not to post: logging out would end the crawl's session.
_SKIP_FORM = ("/logout",)


class _Forms(HTMLParser):
    """The links and the POST forms of a page: action, enctype, fields (name, type, value)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.forms: list[dict[str, Any]] = []
        self._form: dict[str, Any] | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("href", "").startswith("/"):
            self.links.append(a["href"])
        elif tag == "form" and a.get("method", "get").lower() == "post":
            self._form = {"action": a.get("action", ""), "enctype": a.get("enctype", ""), "fields": []}
            self.forms.append(self._form)
        elif self._form is not None and tag in ("input", "textarea") and a.get("name"):
            self._form["fields"].append(
                (a["name"], a.get("type", "text" if tag == "input" else "textarea"), a.get("value", ""))
            )
        elif self._form is not None and tag == "select" and a.get("name"):
            self._select = a["name"]
            self._form["fields"].append((a["name"], "select", ""))
        elif self._form is not None and tag == "button" and a.get("name"):
            self._form["fields"].append((a["name"], "button", a.get("value", "")))
        elif tag == "option" and self._select is not None and self._form is not None:
            name, kind, value = self._form["fields"][-1]
            if not value:
                self._form["fields"][-1] = (name, kind, a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def _parse(page: str) -> _Forms:
    parser = _Forms()
    parser.feed(page)
    return parser


def _body(fields: list[tuple[str, str, str]], hostile: str) -> str:
    """The form urlencoded by hand (httpx cannot send a lone surrogate): hidden fields as they are, every other
    field (texts, dates, numbers, selects, checkboxes, buttons' values too) the hostile value."""
    parts = []
    for name, kind, value in fields:
        if kind in ("hidden", "submit"):
            parts.append(f"{quote(name)}={quote(value)}")
        elif kind != "file":
            parts.append(f"{quote(name)}={hostile}")
    return "&".join(parts)


async def _seed(stack: WorkspaceStack) -> list[str]:
    """Something behind every page and form: people, pairs (formed, active) and an open proposal, a venue, a
    language café tomorrow with a sign-up, a fair stand, a partnership. Returns the pages the crawl should visit
    beside the first of their route (the crawl takes one page per route: one pair, one occurrence)."""
    free = {"same_gender": False}
    people = {}
    for name, body in {
        "newcomer": factories.newcomer(wishes=free),
        "established": factories.established(wishes=free),
        "newcomer-2": factories.newcomer(first_name="Omar", gender="man", wishes=free),
        "established-2": factories.established(first_name="Erik", gender="man", wishes=free),
        "newcomer-3": factories.newcomer(first_name="Lina", wishes=free),
        "established-3": factories.established(first_name="Birgitta", wishes=free),
    }.items():
        made = await stack.intake.client.post("/participants", json=body)
        assert made.status_code == 201, made.text
        people[name] = made.json()["id"]

    async def learnt() -> bool:
        found = "SELECT districts FROM organisations WHERE organisation_id = 'linkoping'"
        known = "SELECT count(*) FROM participants WHERE participant_id = ANY($1::uuid[])"
        waiting = (await stack.matching.client.get("/programmes/sprakvan/waiting")).json()
        return (
            "skaggetorp" in (await stack.events.pool.fetchval(found) or [])
            and await stack.events.pool.fetchval(known, list(people.values())) == len(people)
            and waiting.get("total") == 3
        )

    await eventually(learnt)
    pages = [f"/workspace/matching/pairs/{pair}" for pair in await _seed_pairs(stack, people)]
    events = stack.events.client
    assert (await events.post("/venues", json={"name": "Ryds bibliotek", "district": "ryd"})).status_code == 201
    # Tomorrow: a sign-up is refused once the occurrence is over, and tonight's café would be over in the evening.
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    cafe = {
        "title": "Språkcafé",
        "type_code": "language_cafe",
        "district": "ryd",
        "capacity": 10,
        "starts_at": f"{tomorrow}T17:00:00",
        "ends_at": f"{tomorrow}T19:00:00",
    }
    made = await events.post("/activities", json=cafe)
    assert made.status_code == 201, made.text
    (occurrence,) = made.json()["occurrences"]
    signed = await events.post(f"/occurrences/{occurrence['id']}/signups", json={"participant_id": people["newcomer"]})
    assert signed.status_code == 201, signed.text
    cafe_page = f"/workspace/activities/occurrences/{occurrence['id']}"
    pages += [cafe_page, f"{cafe_page}/check-in"]
    day = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    stand = {
        "title": "Monter",
        "type_code": "fair_stand",
        "district": "innerstaden",
        "campaign": "cake-party-city-hall-2019",
        "starts_at": f"{day}T11:00:00",
        "ends_at": f"{day}T15:00:00",
    }
    made = await events.post("/activities", json=stand)
    assert made.status_code == 201, made.text
    pages.append(f"/workspace/activities/occurrences/{made.json()['occurrences'][0]['id']}/check-in")
    partnership = {
        "title": "Vi ses! Språkvänner i Linköping",
        "valid_from": "2026-01-01",
        "valid_to": "2027-12-31",
        "partners": [{"name": "Linköpings kommun", "yearly_contribution_sek": 600000}],
    }
    admin = {"Authorization": f"Bearer {mint_token(role='admin')}"}
    made = await stack.reporting.client.post("/partnerships", json=partnership, headers=admin)
    assert made.status_code == 201, made.text
    feed = {"scope": "district", "value": "innerstaden", "name": "Innerstaden"}
    assert (await events.post("/feeds", json=feed)).status_code == 201
    await accounts.create_local_user(
        stack.web.pool, organisation_id="linkoping", username="another", password="another's password", role=Role.VIEWER
    )
    return pages


async def _seed_pairs(stack: WorkspaceStack, people: dict[str, str]) -> list[str]:
    """A formed pair, an active one (its conversation held) and an open proposal of a round: their ids."""
    matching = stack.matching.client

    async def pair(newcomer: str, established: str) -> str:
        made = await matching.post(
            "/programmes/sprakvan/pairs", json={"newcomer_id": people[newcomer], "established_id": people[established]}
        )
        assert made.status_code == 201, made.text
        return made.json()["pair_id"]

    formed = await pair("newcomer", "established")
    active = await pair("newcomer-2", "established-2")
    held = {"held_on": datetime.now(UTC).date().isoformat(), "attended": ["newcomer", "established"]}
    assert (await matching.post(f"/pairs/{active}/conversation", json=held)).status_code == 200
    settings = await matching.get("/programmes/sprakvan/settings")
    everyone = settings.json() | {"eligibility": "all"}
    admin = {"Authorization": f"Bearer {mint_token(role='admin')}", "If-Match": settings.headers["etag"]}
    saved = await matching.put("/programmes/sprakvan/settings", json=everyone, headers=admin)
    assert saved.status_code == 200, saved.text
    ran = await matching.post("/programmes/sprakvan/rounds", json={})
    assert ran.status_code == 201 and ran.json()["proposals"], ran.text
    return [formed, active, ran.json()["proposals"][0]["pair_id"]]


async def _import_runs(stack: WorkspaceStack, admin: httpx.AsyncClient) -> list[str]:
    """The admin's import runs: a dry run done (its page has the confirmation) and one stopped (run again)."""
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', (await admin.get(IMPORT)).text).group(1)
    pages = []
    for _ in range(2):
        upload = await admin.post(IMPORT, data={"csrf_token": csrf}, files={"file": ("historik.xlsx", history_file())})
        assert upload.status_code == 303, upload.text
        run_id = uuid.UUID(re.search(r"/runs/([0-9a-f-]{36})", upload.headers["location"]).group(1))
        await stack.web.app.state.import_runs.wait(run_id)
        pages.append(f"{IMPORT}/runs/{run_id}")
    await stack.web.pool.execute("UPDATE import_runs SET status = 'stopped' WHERE id = $1", run_id)
    return pages


async def _crawl(
    client: httpx.AsyncClient, starts: list[str], limit: int = 120, also: tuple[str, ...] | list[str] = ()
) -> tuple[list[dict], list[str]]:
    """Every POST form on the pages reachable from ``starts`` and on the pages ``also`` (same site, at most
    ``limit`` pages), each with the page it was on; and the pages whose answer was a 5xx."""
    seen: set[str] = set()
    queue = deque([*also, *starts])
    forms: dict[str, dict] = {}
    broken: list[str] = []
    while queue and len(seen) < limit:
        path = queue.popleft()
        # One page per route shape (ids replaced), so that a list of many rows is not crawled row by row.
        shape = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "{id}", urlsplit(path).path)
        if (shape in seen and path not in also) or _SKIP_LINK.search(path):
            continue
        seen.add(shape)
        page = await client.get(path)
        if page.status_code >= 500:
            broken.append(f"GET {path}: {page.status_code}")
        if "text/html" not in page.headers.get("content-type", ""):
            continue
        parsed = _parse(page.text)
        for form in parsed.forms:
            action = form["action"] or path
            forms.setdefault(re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "{id}", urlsplit(action).path), form | {"on": path})
        queue.extend(link.replace("&amp;", "&") for link in parsed.links)
    return list(forms.values()), broken


async def _probe(client: httpx.AsyncClient, forms: list[dict]) -> tuple[set[str], list[str]]:
    """Post each form with each hostile value and once 10 MB; return the actions posted and what went wrong."""
    posted, wrong = set(), []
    for form in forms:
        action = form["action"] or form["on"]
        if urlsplit(action).path in _SKIP_FORM:
            continue
        posted.add(action)
        for what, hostile in HOSTILE.items():
            # The hidden fields of the page as it is now (a CSRF token, a fresh time token, the version).
            fresh = _parse((await client.get(form["on"])).text).forms
            same = next((f for f in fresh if (f["action"] or form["on"]) == action), form)
            answer = await client.post(
                action,
                content=_body(same["fields"], hostile).encode("latin-1"),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            if answer.status_code >= 500:
                wrong.append(f"POST {action} ({what}): {answer.status_code}")
        huge = "&".join([_body(form["fields"], "x"), "filler=" + "A" * 10_000_000])
        answer = await client.post(
            action, content=huge.encode(), headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        if not 400 <= answer.status_code < 500:
            wrong.append(f"POST {action} (10 MB): {answer.status_code}, not a 4xx")
    return posted, wrong


def _post_routes(app: Any) -> set[str]:
    """Every POST route of the web front, as a regular expression of its path (routers included in routers)."""
    routes: set[str] = set()

    def walk(items: Any) -> None:
        for route in items:
            if "POST" in (getattr(route, "methods", None) or ()) and hasattr(route, "path_regex"):
                routes.add(route.path_regex.pattern)
            walk(getattr(route, "_effective_candidates", None) or ())
            walk(getattr(getattr(route, "original_router", None), "routes", None) or ())

    walk(app.router.routes)
    return routes


@pytest.mark.timeout(600)
async def test_every_form_survives_hostile_input_and_no_value_reaches_a_log(
    start_service: ServiceStarter, capfd: pytest.CaptureFixture[str]
) -> None:
    async with workspace_stack(start_service) as stack:
        pages = await _seed(stack)
        capfd.readouterr()
        async with httpx.AsyncClient(base_url=stack.web_url, trust_env=False) as anyone:
            public, broken = await _crawl(anyone, ["/", "/signup/linkoping/sprakvan", "/login", "/accessibility"], 10)
            posted, wrong = await _probe(anyone, [f for f in public if not f["action"].startswith("/login")])
        routes = _post_routes(stack.web.app)
        async with stack.user("admin") as admin:
            pages += await _import_runs(stack, admin)
            forms, more_broken = await _crawl(admin, ["/workspace", "/registrations", "/admin/users"], also=pages)
            more_posted, more_wrong = await _probe(admin, [f for f in forms if not f["action"].startswith("/signup")])
            reached = posted | more_posted
            unreached = [r for r in routes if not any(re.match(r, urlsplit(a).path) for a in reached)]
            unreached = [r for r in unreached if "logout" not in r and "/login" not in r]
        async with httpx.AsyncClient(base_url=stack.web_url, trust_env=False) as stranger:
            login = _parse((await stranger.get("/login")).text).forms
            login_posted, login_wrong = await _probe(stranger, [f | {"on": "/login"} for f in login])
        logged = capfd.readouterr()
    assert not broken + more_broken, "\n".join(broken + more_broken)
    assert not wrong + more_wrong + login_wrong, "\n".join(wrong + more_wrong + login_wrong)
    assert MARKER not in logged.out + logged.err, "a hostile value reached a log line"
    # Every form was found on a page the seed data made and posted as a browser would, none at a made-up id.
    assert not unreached, f"POST routes with no form on any crawled page (seed what they need): {unreached}"
