"""Import a programme's history from a spreadsheet (issue 13), admin only, under Settings.

Without JavaScript: the upload form; its POST reads the file, keeps it server-side (``imports_store``) and
shows the dry run's summary with a confirm form that carries only the upload's id; the confirmation runs
the import for real and shows what was done. The import runs inside the request (a minute for thousands of
rows). Nothing of the file (its name, cells or the summary) is logged.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from babel.numbers import format_decimal
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from sprakvan_importer import FileError, NotConfigured, ServiceError, plan_for, read_file, run_import
from sprakvan_importer.writing import template, xlsx_bytes

from ..context import pool_of
from . import WorkspaceRequest, workspace_request
from . import imports_store as store
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


def upload_limit(ws: WorkspaceRequest) -> int:
    settings = ws.web.settings
    guard = settings.http_upload_limits.get(PATH, settings.http_max_body_bytes)
    return min(MAX_BYTES, guard - FORM_OVERHEAD)


def _megabytes(ws: WorkspaceRequest) -> str:
    return format_decimal(upload_limit(ws) / (1024 * 1024), format="#,##0.#", locale=ws.locale.code)


async def _admin(request: Request) -> WorkspaceRequest | Response:
    return await workspace_request(request, write=True, admin=True)


async def _programmes(ws: WorkspaceRequest) -> list[tuple[str, str]]:
    """The organisation's programmes (code, label in the page's language); empty when not configured."""
    async with services_for(ws.web.settings, ws.web.issuer, ws.caller) as services:
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
    await store.prune(pool_of(request))
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
    outcome = await _run(ws, name, data, programme, dry_run=True, programmes=programmes)
    if isinstance(outcome, Response):
        return outcome
    user = ws.session.user
    upload_id = await store.keep(
        pool_of(request), organisation_id=user.organisation_id, user_id=user.id, file_name=name,
        programme=programme, content=data,
    )  # fmt: skip
    return _summary(ws, outcome, name, upload_id=upload_id)


@router.post(PATH + "/confirm")
async def confirm(request: Request) -> Response:
    ws = await _admin(request)
    if isinstance(ws, Response):
        return ws
    form = await request.form(max_files=0, max_fields=5)
    if not ws.csrf_ok(form):
        return expired(ws)
    try:
        upload_id = uuid.UUID(str(form.get("upload", "")))
    except ValueError:
        upload_id = None
    user = ws.session.user
    await store.prune(pool_of(request))
    pending = upload_id and await store.take(
        pool_of(request), upload_id, organisation_id=user.organisation_id, user_id=user.id
    )
    if not pending:
        return ws.message(
            ws.t.text("This upload is gone"),
            ws.t.text("It was confirmed already, is older than an hour, or is another admin's. Upload the file again."),
            status_code=404,
            section=SECTION,
        )
    outcome = await _run(ws, pending.file_name, pending.content, pending.programme, dry_run=False)
    if isinstance(outcome, Response):
        return outcome
    return _summary(ws, outcome, pending.file_name, upload_id=None)


async def _run(
    ws: WorkspaceRequest,
    name: str,
    data: bytes,
    programme: str | None,
    *,
    dry_run: bool,
    programmes: Sequence[tuple[str, str]] = (),
) -> Any:
    """The report as a dict, or the page that says why there is none."""
    try:
        workbook = read_file(name, data)
    except FileError as exc:
        problem = ws.t.text("The file cannot be read as a spreadsheet: %(reason)s.") % {"reason": exc}
        return _upload_page(ws, list(programmes), problem=problem, status_code=400)
    try:
        async with services_for(ws.web.settings, ws.web.issuer, ws.caller) as services:
            plan = await plan_for(workbook, services, programme)
            if not plan.kinds:
                problem = ws.t.text("No sheet of the file is one Språkvän knows. Start from a template.")
                return _upload_page(ws, list(programmes), problem=problem, status_code=400)
            report = await run_import(plan, services, dry_run=dry_run)
    except NotConfigured:
        return ws.message(
            ws.t.text("Set up the vocabularies first"),
            ws.t.text("The organisation has no programmes and districts yet: the file's codes have nothing to match."),
            status_code=409,
            section=SECTION,
        )
    except ServiceError:
        return ws.unavailable(SECTION)
    return report.to_dict()


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
        code_words={code: ws.t.text(words) for code, words in CODE_WORDS.items()},
        confirm_action=ws.url(PATH + "/confirm"),
        again=ws.url(PATH),
    )
