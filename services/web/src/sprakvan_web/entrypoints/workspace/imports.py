"""Import a programme's history from a spreadsheet (issue 13), admin only, under Settings.

Without JavaScript: the upload form; its POST keeps the file server-side in a run, starts its dry run in the
background (``imports_runs``) and sends the admin to the run's page, which shows the progress per sheet (a
reload link; htmx polls it) and then the dry run's summary with a confirm form that carries only the run's
id; the confirmation runs the same file for real, on the same page, and then shows what was done. Nothing
of the file (its name, cells or the summary) is logged.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from babel.numbers import format_decimal
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from sprakvan_importer import ServiceError
from sprakvan_importer.writing import template, xlsx_bytes

from ..context import pool_of
from . import WorkspaceRequest, workspace_request
from . import imports_runs as runs
from .imports_services import services_for
from .participants import expired

router = APIRouter(include_in_schema=False)
SECTION = "settings"
PATH = "/workspace/settings/import"
MAX_BYTES = 10 * 1024 * 1024
# The request guard (``http_upload_limits`` for this path) answers larger bodies itself: the file's limit stays
# below it.
FORM_OVERHEAD = 16 * 1024  # the form's other fields and the multipart boundaries
SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".csv")
TEMPLATE_LANGUAGES = ("sv", "en")


def _(message: str) -> str:  # marks a message for extraction (workspace-import.po)
    return message


# The services' error codes, in words beside each refused row.
CODE_WORDS = {
    "required": _("missing"),
    "invalid": _("not valid"),
    "unknown_code": _("not a code of the configuration"),
    "unknown_reference": _("refers to something that does not exist"),
    "depends_on_refused": _("depends on a refused row"),
    "rule": _("breaks a rule"),
}


RUN_TITLES = {
    "running": _("Importing %(file)s"),
    "stopped": _("The import stopped before it was done"),
    "failed": _("The import could not be finished"),
}
DRY_RUN_TITLES = {
    "running": _("Checking %(file)s"),
    "stopped": _("The check stopped before it was done"),
    "failed": _("The file could not be checked"),
}


def upload_limit(ws: WorkspaceRequest) -> int:
    settings = ws.web.settings
    guard = settings.http_upload_limits.get(PATH, settings.http_max_body_bytes)
    return min(MAX_BYTES, guard - FORM_OVERHEAD)


def _megabytes(ws: WorkspaceRequest) -> str:
    return format_decimal(upload_limit(ws) / (1024 * 1024), format="#,##0.#", locale=ws.locale.code)


async def _admin(request: Request) -> WorkspaceRequest | Response:
    return await workspace_request(request, write=True, admin=True)


async def _admin_post(request: Request) -> tuple[WorkspaceRequest, FormData] | Response:
    """An admin's form without a file, its CSRF token checked."""
    ws = await _admin(request)
    if isinstance(ws, Response):
        return ws
    form = await request.form(max_files=0, max_fields=5)
    return (ws, form) if ws.csrf_ok(form) else expired(ws)


async def _programmes(ws: WorkspaceRequest) -> list[tuple[str, str]]:
    """The organisation's programmes (code, label in the page's language); empty when not configured."""
    pool, user_id = pool_of(ws.request), ws.session.user.id
    async with services_for(ws.web.settings, ws.web.issuer, ws.caller, pool=pool, user_id=user_id) as services:
        configuration = await services.configuration() or {}
    english = ws.locale.code == "en"
    return [(p["code"], p["labels"]["en" if english else "sv"]) for p in configuration.get("programmes") or ()]


def _upload_page(
    ws: WorkspaceRequest, programmes: list[tuple[str, str]], *, problem: str | None = None, status_code: int = 200
) -> Response:
    return ws.page(
        "workspace/import/upload.html",
        title=ws.t.text("Import history from a spreadsheet"),
        section=SECTION,
        status_code=status_code,
        action=ws.url(PATH),
        programmes=programmes if len(programmes) > 1 else [],
        templates=[(ws.url(f"{PATH}/template-{lang}.xlsx"), lang) for lang in TEMPLATE_LANGUAGES],
        max_megabytes=_megabytes(ws),
        problems={"file": problem} if problem else {},
    )


@router.get(PATH)
async def upload_page(request: Request) -> Response:
    ws = await _admin(request)
    if isinstance(ws, Response):
        return ws
    await runs.prune(pool_of(request))
    try:
        programmes = await _programmes(ws)
    except ServiceError:
        return ws.unavailable(SECTION)
    return _upload_page(ws, programmes)


@router.get(PATH + "/template-{language}.xlsx")
async def template_file(request: Request, language: str) -> Response:
    ws = await _admin(request)
    if isinstance(ws, Response):
        return ws
    if language not in TEMPLATE_LANGUAGES:
        return ws.message(ws.t.text("Not found"), ws.t.text("There is no such template."), status_code=404)
    name = "mall" if language == "sv" else "template"
    return Response(
        xlsx_bytes(template(language)),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="sprakvan-{name}.xlsx"'},
    )


@router.post(PATH)
async def upload(request: Request) -> Response:
    ws = await _admin(request)
    if isinstance(ws, Response):
        return ws
    limit = upload_limit(ws)
    too_large = ws.t.text("The file is larger than %(limit)s MB. Split it, for example one sheet per file.") % {
        "limit": _megabytes(ws)
    }
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
        return _upload_page(ws, [], problem=too_large, status_code=413)
    # A part (the file) may be as large as the limit; Starlette's default is 1 MB (a 400 above it).
    form = await request.form(max_files=1, max_fields=5, max_part_size=limit + 1)
    if not ws.csrf_ok(form):
        return expired(ws)
    try:
        programmes = await _programmes(ws)
    except ServiceError:
        return ws.unavailable(SECTION)
    upload_file = form.get("file")
    if not isinstance(upload_file, UploadFile) or not upload_file.filename:
        return _upload_page(ws, programmes, problem=ws.t.text("Choose a file to upload."), status_code=400)
    name = "".join(c for c in Path(upload_file.filename).name if c.isprintable())[:200]  # no NUL, no lone surrogate
    data = await upload_file.read(limit + 1)
    if len(data) > limit:
        return _upload_page(ws, programmes, problem=too_large, status_code=413)
    if Path(name).suffix.casefold() not in SPREADSHEET_SUFFIXES:
        problem = ws.t.text("This is not a spreadsheet: upload an XLSX file, or a CSV file named after its sheet.")
        return _upload_page(ws, programmes, problem=problem, status_code=415)
    programme = str(form.get("programme") or "") or None
    if programme is not None and programme not in dict(programmes):
        return _upload_page(ws, programmes, problem=ws.t.text("Choose one of the programmes."), status_code=400)
    user = ws.session.user
    pool = pool_of(request)
    await runs.prune(pool)
    run_id, claimed = await runs.begin_dry_run(
        pool, organisation_id=user.organisation_id, user_id=user.id, file_name=name, programme=programme, content=data
    )
    return _started(ws, run_id, claimed)


@router.post(PATH + "/confirm")
async def confirm(request: Request) -> Response:
    posted = await _admin_post(request)
    if isinstance(posted, Response):
        return posted
    ws, form = posted
    try:
        run_id = uuid.UUID(str(form.get("upload", "")))
    except ValueError:
        run_id = None
    user = ws.session.user
    pool = pool_of(request)
    await runs.prune(pool)
    claimed = run_id and await runs.confirm(pool, run_id, organisation_id=user.organisation_id, user_id=user.id)
    if not claimed:
        gone = _("It was confirmed already, is older than an hour, or is another admin's. Upload the file again.")
        return _say(ws, _("This upload is gone"), gone, 404)
    return _started(ws, run_id, claimed)


def _started(ws: WorkspaceRequest, run_id: uuid.UUID, claimed: runs.Claimed) -> Response:
    web = ws.web
    import_runs: runs.ImportRuns = ws.request.app.state.import_runs
    import_runs.start(pool_of(ws.request), web.settings, web.issuer, ws.caller, run_id, claimed)
    return RedirectResponse(ws.url(f"{PATH}/runs/{run_id}"), status_code=303)


async def _run_of(ws: WorkspaceRequest, run_id: str) -> runs.Run | None:
    try:
        found = uuid.UUID(run_id)
    except ValueError:
        return None
    user = ws.session.user
    return await runs.find(pool_of(ws.request), found, organisation_id=user.organisation_id, user_id=user.id)


def _no_run(ws: WorkspaceRequest) -> Response:
    words = _("It is older than a day, or another admin's. Upload the file again.")
    return _say(ws, _("There is no such import"), words, 404)


@router.get(PATH + "/runs/{run_id}")
async def run_page(request: Request, run_id: str) -> Response:
    """The run's progress while it runs; then the dry run's summary with the confirm form, what the import
    did, or that it stopped or failed. With ``HX-Request`` (htmx polls while it runs) only the progress, or
    ``HX-Refresh`` once it is over: the whole page then."""
    ws = await _admin(request)
    if isinstance(ws, Response):
        return ws
    run = await _run_of(ws, run_id)
    if run is None:
        return _no_run(ws)
    polled = bool(request.headers.get("HX-Request"))
    if polled and run.status != "running":
        return Response(status_code=200, headers={"HX-Refresh": "true"})
    if run.status == "done" and run.report is not None:
        return _summary(ws, run.report, run.file_name, upload_id=run.id if run.confirmable else None)
    link = ws.url(f"{PATH}/runs/{run.id}")
    context = {
        "run": run,
        "link": link,
        "again_action": ws.url(f"{PATH}/runs/{run.id}/again"),
        "again": ws.url(PATH),
        "sheets_done": sum(1 for sheet in run.sheets if sheet.get("finished")),
        "number": lambda n: format_decimal(n or 0, locale=ws.locale.code),
    }
    template = "workspace/import/_run_progress.html" if polled else "workspace/import/run.html"
    titles = DRY_RUN_TITLES if run.dry_run else RUN_TITLES
    title = ws.t.text(titles.get(run.status, titles["failed"])) % {"file": run.file_name}
    return ws.page(template, title=title, section=SECTION, **context)


@router.post(PATH + "/runs/{run_id}/again")
async def run_again(request: Request, run_id: str) -> Response:
    """A stopped or failed run, again from the same file: what got in is unchanged, the rest goes in."""
    posted = await _admin_post(request)
    if isinstance(posted, Response):
        return posted
    ws = posted[0]
    run = await _run_of(ws, run_id)
    if run is None:
        return _no_run(ws)
    user = ws.session.user
    claimed = await runs.claim_again(pool_of(request), run.id, organisation_id=user.organisation_id, user_id=user.id)
    if claimed is None:  # it runs already (a double click, another replica) or is done: its page says which
        return RedirectResponse(ws.url(f"{PATH}/runs/{run.id}"), status_code=303)
    return _started(ws, run.id, claimed)


def _say(ws: WorkspaceRequest, title: str, words: str, status_code: int) -> Response:
    """A message page of this part, in the page's language."""
    return ws.message(ws.t.text(title), ws.t.text(words), status_code=status_code, section=SECTION)


def _summary(ws: WorkspaceRequest, report: dict[str, Any], name: str, *, upload_id: uuid.UUID | None) -> Response:
    dry_run = report["dry_run"]
    title = ws.t.text("What the import would do") if dry_run else ws.t.text("What the import did")
    return ws.page(
        "workspace/import/summary.html",
        title=title,
        section=SECTION,
        report=report,
        file_name=name,
        upload_id=upload_id,
        too_old=report["dry_run"] and upload_id is None,
        code_words={code: ws.t.text(words) for code, words in CODE_WORDS.items()},
        confirm_action=ws.url(PATH + "/confirm"),
        again=ws.url(PATH),
    )
