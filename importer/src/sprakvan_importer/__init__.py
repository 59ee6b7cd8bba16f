"""Import a programme's history from spreadsheets, and export it again (issue 13).

The same steps serve the CLI (``sprakvan import``) and a web upload page::

    workbook = read_file(name, data)                      # XLSX, or a CSV per kind
    plan = await plan_for(workbook, services)             # codes mapped, references checked: pure after the fetch
    report = await run_import(plan, services, dry_run=True)   # show report.to_dict() / format_report(report)
    report = await run_import(plan, services, dry_run=False)  # after the coordinator confirms

``Services`` holds an HTTP client per service with an admin token; nothing here keeps state between calls.
"""

from __future__ import annotations

from .plan import Plan, prepare
from .reading import FileError, Workbook, read_file, read_path
from .run import ImportReport, run_import
from .services import ServiceError, Services
from .summary import format_report
from .vocabularies import vocabularies


class NotConfigured(ServiceError):
    """The organisation has no configuration yet: there are no codes to map to."""


async def plan_for(workbook: Workbook, services: Services, programme: str | None = None) -> Plan:
    configuration = await services.configuration()
    if configuration is None:
        raise NotConfigured("the organisation has no configuration: an admin must PUT /configuration first")
    known = vocabularies(configuration)
    if programme is not None and known["programmes"].code_of(programme) is None:
        raise NotConfigured(f"--programme {programme!r} is not a programme of the organisation's configuration")
    return prepare(workbook, known, known["programmes"].code_of(programme) if programme else None)


__all__ = [
    "FileError", "ImportReport", "NotConfigured", "Plan", "ServiceError", "Services", "Workbook",
    "format_report", "plan_for", "prepare", "read_file", "read_path", "run_import", "vocabularies",
]  # fmt: skip
