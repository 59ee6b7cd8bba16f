"""Importing history from a spreadsheet in the workspace (issue 13), on the whole system: an admin uploads
an XLSX, its dry run runs in the background with its progress on the run's page and then shows its summary
with the refused row named, the admin confirms, the import runs on the same page with its progress per
sheet, and intake then holds the participants with their real registration dates; other roles get 403,
another admin or organisation cannot confirm the upload nor see the run (404); a file too large, no
spreadsheet or unreadable is refused in words. A run (a dry run or the import) whose process died says so,
and runs again from the same file to completion."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any

import httpx
import pytest

from sprakvan_importer.writing import Table, xlsx_bytes
from sprakvan_shared.auth import Role
from sprakvan_web.adapters.services import Caller
from sprakvan_web.entrypoints.workspace import imports_runs as runs
from tests.kit import ORG_A, ORG_B, ServiceStarter, mint_token

from .stack import WorkspaceStack, csrf_of, workspace_stack

# The whole system is started for each test; on a machine shared by several test runs, that alone took 100 s.
pytestmark = [pytest.mark.infra, pytest.mark.timeout(240)]

PAGE = "/workspace/settings/import"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADERS = ["nyckel", "roll", "program", "förnamn", "efternamn", "e-post", "kön", "födelseår", "stadsdel", "språk",
           "svenskanivå", "antal nyanlända", "registrerad"]  # fmt: skip
GOOD = [  # key, role, gender, district, registered
    ("h1", "nyanländ", "kvinna", "Skäggetorp", "2024-01-15"),
    ("h2", "etablerad", "man", "ryd", "2024-03-05"),
    ("h3", "nyanländ", "man", "Berga", "2024-09-01"),
]
PAIR_HEADERS = ["nyckel", "program", "nyanländ", "etablerad", "matchningssamtal"]
BAD_ROW = 5  # the header is row 1: the three good rows are 2-4


def _row(key: str, role: str, gender: str, district: str, registered: str) -> list[Any]:
    newcomer = role == "nyanländ"
    return [key, role, "Språkvän", "Person", key.upper(), f"{key}@example.org", gender, 1980, district,
            "ar:modersmål" if newcomer else "sv:modersmål", "A2" if newcomer else None, None if newcomer else 1,
            registered]  # fmt: skip


def history_file() -> bytes:
    rows = [_row(*person) for person in GOOD] + [_row("h4", "nyanländ", "kvinna", "Gottfridsberg", "2024-02-01")]
    pair = ["p1", "Språkvän", "h1", "h2", "2024-04-01"]  # matching is sent the participants' new ids
    return xlsx_bytes([Table("deltagare", HEADERS, rows), Table("par", PAIR_HEADERS, [pair])])


def upload_limit_of(stack: WorkspaceStack) -> int:
    """The page's limit: 10 MB, or less where the web front's request guard takes no more on its path."""
    settings = stack.web.app.state.settings
    guard = settings.http_upload_limits.get("/workspace/settings/import", settings.http_max_body_bytes)
    return min(10 * 1024 * 1024, guard - 16 * 1024)


def upload_id_of(html: str) -> str:
    return re.search(r'name="upload" value="([^"]+)"', html).group(1)


async def upload_file(client: httpx.AsyncClient, csrf: str, name: str, data: bytes, kind: str = XLSX) -> Any:
    return await client.post(f"{PAGE}?lang=en", data={"csrf_token": csrf}, files={"file": (name, data, kind)})


async def finished_run(client: httpx.AsyncClient, started: httpx.Response, seconds: float = 90.0) -> httpx.Response:
    """The run's page once the run (a dry run or the import) is over: the upload or the confirmation answered
    303 to it; the page is asked again, as its reload link does, until it no longer shows progress."""
    assert started.status_code == 303, started.text
    link = started.headers["location"]
    assert re.fullmatch(rf"{PAGE}/runs/[0-9a-f-]{{36}}\?lang=\w+", link), link
    deadline = time.monotonic() + seconds
    while True:
        page = await client.get(link)
        if 'id="import-progress"' not in page.text or time.monotonic() > deadline:
            return page
        await asyncio.sleep(0.2)


def run_id_of(response: httpx.Response) -> uuid.UUID:
    return uuid.UUID(re.search(r"/runs/([0-9a-f-]{36})", response.headers["location"]).group(1))


def count(html: str, kind: str, what: str) -> str:
    row = re.search(rf'<tr data-kind="{kind}">(.*?)</tr>', html, re.S).group(1)
    return re.search(rf'data-count="{what}">(\d+)<', row).group(1)


async def test_an_admin_checks_a_spreadsheet_then_imports_it_with_its_dates(start_service: ServiceStarter) -> None:
    async with workspace_stack(start_service) as stack:
        async with stack.user("admin") as admin:
            settings = await admin.get("/workspace/settings?lang=en")
            assert f'href="{PAGE}?lang=en"' in settings.text
            page = await admin.get(f"{PAGE}?lang=en")
            assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
            csrf = csrf_of(page.text)
            template = await admin.get(f"{PAGE}/template-sv.xlsx")
            assert template.status_code == 200 and template.content.startswith(b"PK\x03\x04")

            async def upload(name: str, data: bytes, kind: str = XLSX) -> Any:
                return await upload_file(admin, csrf, name, data, kind)

            limit = upload_limit_of(stack)
            too_large = await upload("big.xlsx", b"x" * (limit + 1))
            assert too_large.status_code == 413 and "The file is larger than" in too_large.text
            not_a_sheet = await upload("notes.txt", b"hello", "text/plain")
            assert not_a_sheet.status_code == 415 and "not a spreadsheet" in not_a_sheet.text
            broken = await finished_run(admin, await upload("broken.xlsx", b"PK\x03\x04 not really a zip"))
            assert "The file could not be checked" in broken.text and "cannot be read as a spreadsheet" in broken.text
            assert "What is wrong: not a readable XLSX file (BadZipFile)." in broken.text  # the reader's reason
            assert "sv-import-again" not in broken.text  # checking the same file again cannot help
            unknown = await finished_run(admin, await upload("okänt.xlsx", xlsx_bytes([Table("x", ["a"], [[1]])])))
            assert "No sheet of the file is one Språkvän knows" in unknown.text

            checking = await upload("historik.xlsx", history_file())
            dry_run = await finished_run(admin, checking)  # 303 to the dry run's page, polled until it is over
            assert dry_run.status_code == 200, dry_run.text
            assert "What the import would do" in dry_run.text
            assert (count(dry_run.text, "participants", "created"), count(dry_run.text, "participants", "refused")) == (
                "3", "1",
            )  # fmt: skip
            assert count(dry_run.text, "pairs", "created") == "1"  # assumed: its participants are not there yet
            refused = re.search(rf'<tr data-row="{BAD_ROW}" data-code="unknown_code">(.*?)</tr>', dry_run.text, re.S)
            assert refused and "stadsdel" in refused.group(1)  # the row, its column as the file names it
            assert "Gottfridsberg" in dry_run.text  # listed once as a value no code matches
            upload_id = upload_id_of(dry_run.text)
            auth = {"Authorization": f"Bearer {mint_token(ORG_A, 'admin')}"}
            before = await stack.intake.client.get("/exports/participants", headers=auth)
            assert before.json()["rows"] == []  # the dry run wrote nothing

            for role in ("coordinator", "viewer"):
                async with stack.user(role) as other:
                    assert (await other.get(PAGE)).status_code == 403
                    page_of_other = await other.get("/workspace/settings")
                    token = csrf_of(page_of_other.text) if 'name="csrf_token"' in page_of_other.text else ""
                    refused_post = await other.post(f"{PAGE}/confirm", data={"csrf_token": token, "upload": upload_id})
                    assert refused_post.status_code == 403
            for organisation in (ORG_B, ORG_A):  # another organisation's admin, and another admin of the same
                async with stack.user("admin", organisation) as other_admin:
                    token = csrf_of((await other_admin.get(PAGE)).text)
                    stolen = await other_admin.post(f"{PAGE}/confirm", data={"csrf_token": token, "upload": upload_id})
                    assert stolen.status_code == 404

            forged = await admin.post(f"{PAGE}/confirm", data={"csrf_token": "ä\u0000", "upload": upload_id})
            assert forged.status_code == 400  # the form expired: nothing imported, and the upload still there
            started = await admin.post(f"{PAGE}/confirm?lang=en", data={"csrf_token": csrf, "upload": upload_id})
            assert started.headers["location"] == checking.headers["location"]  # the same run, now for real
            done = await finished_run(admin, started)
            assert done.status_code == 200, done.text
            assert "What the import did" in done.text and count(done.text, "participants", "created") == "3"
            assert count(done.text, "pairs", "created") == "1"  # matching took the web front's token for it
            again = await admin.post(f"{PAGE}/confirm?lang=en", data={"csrf_token": csrf, "upload": upload_id})
            assert again.status_code == 404  # confirmed once, and gone

            # A dry run older than an hour shows its summary but cannot be confirmed.
            old_check = await upload("historik.xlsx", history_file())
            old = upload_id_of((await finished_run(admin, old_check)).text)
            await stack.web.pool.execute(
                "UPDATE import_runs SET heartbeat_at = now() - interval '61 minutes' WHERE id = $1", uuid.UUID(old)
            )
            too_old = await admin.get(old_check.headers["location"])
            assert "What the import would do" in too_old.text and "older than an hour" in too_old.text
            assert "sv-import-confirm" not in too_old.text
            late = await admin.post(f"{PAGE}/confirm", data={"csrf_token": csrf, "upload": old})
            assert late.status_code == 404

            # Demoted while a run goes on: its next request to a service is not sent, and the run says why. The
            # run is started here as an upload would start it, so that the demotion comes at a known moment.
            pool = stack.web.pool
            user_id = await pool.fetchval("SELECT user_id FROM import_runs WHERE id = $1", uuid.UUID(old))
            run_id, claimed = await runs.begin_dry_run(
                pool, organisation_id=ORG_A, user_id=user_id, file_name="historik.xlsx", programme=None,
                content=history_file(),
            )  # fmt: skip
            await pool.execute("UPDATE users SET role = 'coordinator' WHERE id = $1", user_id)
            import_runs = stack.web.app.state.import_runs
            web = stack.web.app.state.web
            import_runs.start(pool, web.settings, web.issuer, Caller(f"user:{user_id}", ORG_A, Role.ADMIN), run_id,
                              claimed)  # fmt: skip
            await import_runs.wait(run_id)
            row = await pool.fetchrow("SELECT status, problem, sheets FROM import_runs WHERE id = $1", run_id)
            assert (row["status"], row["problem"], row["sheets"]) == ("failed", "revoked", [])  # not even planned
            assert (await admin.get(f"{PAGE}/runs/{run_id}")).status_code == 403  # a coordinator now
            await pool.execute("UPDATE users SET role = 'admin' WHERE id = $1", user_id)
            revoked = await admin.get(f"{PAGE}/runs/{run_id}?lang=en")
            assert "your account stopped being an admin of the organisation or was disabled" in revoked.text
            assert "Nothing is saved." in revoked.text
            again = await finished_run(admin, await admin.post(f"{PAGE}/runs/{run_id}/again?lang=en",
                                                               data={"csrf_token": csrf}))  # fmt: skip
            assert "What the import would do" in again.text  # an admin again: the check runs

        exported = await stack.intake.client.get("/exports/participants", headers=auth)
        registered = {row["key"]: row["registered_on"][:10] for row in exported.json()["rows"]}
        assert registered == {key: date for key, _role, _gender, _district, date in GOOD}


async def test_a_run_shows_its_progress_to_any_replica_and_one_whose_process_died_runs_again_to_completion(
    start_service: ServiceStarter,
) -> None:
    async with workspace_stack(start_service) as stack:
        pool = stack.web.pool
        async with stack.user("admin") as admin:
            csrf = csrf_of((await admin.get(f"{PAGE}?lang=en")).text)
            checking = await upload_file(admin, csrf, "historik.xlsx", history_file())
            first = run_id_of(checking)
            await stack.web.app.state.import_runs.wait(first)
            # The dry run reported its progress into the same row, and keeps the file for the confirmation.
            row = await pool.fetchrow("SELECT status, dry_run, sheets, content FROM import_runs WHERE id = $1", first)
            assert (row["status"], row["dry_run"], row["content"] is not None) == ("done", True, True)
            sheets = {s["kind"]: (s["rows"], s["sent"], s["total"], s["finished"]) for s in row["sheets"]}
            assert sheets == {"participants": (4, 3, 3, True), "pairs": (1, 1, 1, True)}
            dry_run = await finished_run(admin, checking)
            started = await admin.post(
                f"{PAGE}/confirm?lang=en", data={"csrf_token": csrf, "upload": upload_id_of(dry_run.text)}
            )
            assert run_id_of(started) == first
            await stack.web.app.state.import_runs.wait(first)
            # The importer's progress callback and the end of each sheet reached the run's row; the file went.
            row = await pool.fetchrow("SELECT status, sheets, content FROM import_runs WHERE id = $1", first)
            assert (row["status"], row["content"]) == ("done", None)
            sheets = {s["kind"]: s for s in row["sheets"]}
            assert {k: (s["rows"], s["sent"], s["total"], s["finished"]) for k, s in sheets.items()} == {
                "participants": (4, 3, 3, True), "pairs": (1, 1, 1, True),
            }  # fmt: skip
            assert (sheets["participants"]["created"], sheets["participants"]["refused"]) == (3, 1)
            assert "What the import did" in (await finished_run(admin, started)).text

            # A shutdown (here only its step for the runs) marks this process's runs stopped at once: a dry run
            # says so and offers to check the file again, which ends in its summary and the confirm button.
            check_stopped = await upload_file(admin, csrf, "historik.xlsx", history_file())
            await stack.web.app.state.import_runs.stop(pool)  # the dry run takes a second: it is still running
            stopped_check = await admin.get(check_stopped.headers["location"])
            assert (
                "The check stopped before it was done" in stopped_check.text
                and "Nothing is saved." in stopped_check.text
            )
            assert "Check historik.xlsx again" in stopped_check.text
            dry_run = await finished_run(
                admin, await admin.post(f"{check_stopped.headers['location'].split('?')[0]}/again?lang=en",
                                        data={"csrf_token": csrf})
            )  # fmt: skip
            assert "What the import would do" in dry_run.text and 'class="sv-import-confirm"' in dry_run.text
            interrupted = await admin.post(
                f"{PAGE}/confirm?lang=en", data={"csrf_token": csrf, "upload": upload_id_of(dry_run.text)}
            )
            await stack.web.app.state.import_runs.stop(pool)  # the run takes seconds: it is still running
            assert await pool.fetchval("SELECT status FROM import_runs WHERE id = $1", run_id_of(interrupted)) == (
                "stopped"
            )
            stopped_at_once = await admin.get(interrupted.headers["location"])
            assert "The import stopped before it was done" in stopped_at_once.text

            # A run of another replica, still beating: only the database is read. 1,500 of 3,000 rows, as a
            # larger file would show; the page shows it as text (the bar beside it is hidden from readers).
            running = uuid.uuid4()
            progress = [
                {"kind": "participants", "sheet": "deltagare", "rows": 4, "sent": 1500, "total": 3000,
                 "finished": False},
                {"kind": "pairs", "sheet": "par", "rows": 1, "sent": 0, "total": 1, "finished": False},
            ]  # fmt: skip
            await pool.execute(
                "INSERT INTO import_runs (id, organisation_id, user_id, file_name, programme, content, status, sheets)"
                " SELECT $2, organisation_id, user_id, file_name, programme, $3, 'running', $4 FROM import_runs"
                " WHERE id = $1",
                first, running, history_file(), progress,
            )  # fmt: skip
            link = f"{PAGE}/runs/{running}"
            shown = {
                "en": ("1,500 of 3,000", "0 of 2 sheets imported."),
                "sv": ("1\xa0500 av 3\xa0000", "0 av 2 blad importerade."),
            }
            for lang, (sent, sheets_done) in shown.items():
                page = await admin.get(f"{link}?lang={lang}")
                assert page.status_code == 200 and sent in page.text, page.text
                status = '<p class="sv-notice" role="status" aria-live="polite" id="import-status">'
                assert f"{status}{sheets_done}</p>" in page.text  # the live region, per sheet
                assert f'hx-get="{link}?lang={lang}" hx-trigger="every 2s"' in page.text  # htmx polls
                assert f'href="{link}?lang={lang}"' in page.text  # and without JavaScript, a reload link
                assert '<progress max="3000" value="1500" aria-hidden="true">' in page.text
            polled = await admin.get(f"{link}?lang=en", headers={"HX-Request": "true"})
            assert "<html" not in polled.text and 'id="import-status" hx-swap-oob="innerHTML"' in polled.text
            assert "1,500 of 3,000" in polled.text
            assert (
                (await admin.post(f"{link}/again", data={"csrf_token": csrf})).headers["location"].startswith(link)
            )  # it runs: not started twice
            assert await pool.fetchval("SELECT sheets FROM import_runs WHERE id = $1", running) == progress

            # Its process dies: no more heartbeat. The page says it stopped and how to complete it.
            await pool.execute(
                "UPDATE import_runs SET heartbeat_at = now() - interval '31 seconds' WHERE id = $1", running
            )
            stopped = await admin.get(f"{link}?lang=en")
            assert "The import stopped before it was done" in stopped.text
            assert "Running the same file again completes the import" in stopped.text
            assert 'id="import-progress"' not in stopped.text and "Not finished" in stopped.text
            refresh = await admin.get(f"{link}?lang=en", headers={"HX-Request": "true"})
            assert refresh.headers.get("HX-Refresh") == "true"  # a polling page reloads whole
            async with stack.user("admin") as other_admin:
                assert (await other_admin.get(link)).status_code == 404
                other_csrf = csrf_of((await other_admin.get(PAGE)).text)
                assert (await other_admin.post(f"{link}/again", data={"csrf_token": other_csrf})).status_code == 404

            # Run again from the same file: what got in before is unchanged, and the run completes.
            again = await admin.post(f"{link}/again?lang=en", data={"csrf_token": csrf})
            completed = await finished_run(admin, again)
            assert "What the import did" in completed.text
            unchanged = (
                count(completed.text, "participants", "unchanged"),
                count(completed.text, "pairs", "unchanged"),
            )
            assert unchanged == ("3", "1")
            assert count(completed.text, "participants", "created") == "0"
            assert await pool.fetchval("SELECT content FROM import_runs WHERE id = $1", running) is None
            done_again = await admin.post(f"{link}/again", data={"csrf_token": csrf})
            assert done_again.status_code == 303  # a done run is not run again: its page shows the summary
            after = await pool.fetchrow("SELECT status, report FROM import_runs WHERE id = $1", running)
            assert after["status"] == "done" and after["report"]["kinds"][0]["unchanged"] == 3
