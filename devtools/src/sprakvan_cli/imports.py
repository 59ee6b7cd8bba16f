"""``sprakvan import`` and ``sprakvan export``: a programme's history from and to spreadsheets (issue 13).

The work is ``sprakvan_importer``'s (the web upload page calls the same functions); this module only finds
the services, mints an admin token for the organisation (as ``sprakvan token`` does: the key of
``sprakvan up --home DIR``, or JWT_PRIVATE_KEY_FILE / JWT_PRIVATE_KEY; or a ready token in SPRAKVAN_TOKEN)
and prints.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

SERVICES = ("intake", "matching", "events", "reporting")
_DEFAULT_PORTS = {"intake": 8001, "matching": 8002, "events": 8003, "reporting": 8004}
_TIMEOUT = 120.0  # a chunk of 1000 rows is one transaction


def add_import_commands(commands: Any) -> None:
    imp = commands.add_parser(
        "import",
        help="import a programme's history from XLSX or CSV (dry run first), or write a template",
        description="Import participants, pairs, follow-ups, venues, activities, occurrences, sign-ups, "
        "attendance, walk-ins and the partnership from an XLSX file (a sheet per kind, Swedish or English "
        "headers), a CSV file named after its kind, or a directory of CSVs. --dry-run shows what would be "
        "created, changed, unchanged and refused, and writes nothing. `--template sv|en --out FILE` writes "
        "an empty file with every sheet and column.",
    )
    imp.add_argument("file", nargs="?", type=Path, metavar="FILE", help="XLSX, CSV, or a directory of CSVs")
    imp.add_argument("--org", help="the organisation to import into")
    imp.add_argument("--programme", help="programme code for rows that name none")
    imp.add_argument("--dry-run", action="store_true", help="check everything with the services, write nothing")
    imp.add_argument("--json", action="store_true", help="print the report as JSON")
    imp.add_argument("--template", choices=("sv", "en"), help="write an empty template in this language")
    imp.add_argument("--out", type=Path, help="with --template: FILE.xlsx, or a directory for CSVs")
    _connection_arguments(imp)
    imp.set_defaults(handler=cmd_import, parser=imp)

    exp = commands.add_parser(
        "export",
        help="export an organisation's history to XLSX or CSVs, in the import's format",
        description="Write every kind the services export (GET /exports/{kind}) as the import file's sheets: "
        "importing the file into an empty organisation (with the same configuration) gives the same review.",
    )
    exp.add_argument("--org", required=True, help="the organisation to export")
    exp.add_argument("--out", required=True, type=Path, help="FILE.xlsx, or a directory for one CSV per kind")
    exp.add_argument("--language", choices=("sv", "en"), default="sv", help="headers and sheet names (default sv)")
    _connection_arguments(exp)
    exp.set_defaults(handler=cmd_export, parser=exp)


def _connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", metavar="DIR", help="sign the admin token with the key of `sprakvan up --home DIR`")
    parser.add_argument(
        "--url",
        action="append",
        default=[],
        metavar="SERVICE=URL",
        help="a service's address (default SPRAKVAN_<SERVICE>_URL, else http://127.0.0.1:<its port>)",
    )


def service_urls(overrides: list[str], env: dict[str, str]) -> dict[str, str]:
    from .main import CliError

    urls = {name: env.get(f"SPRAKVAN_{name.upper()}_URL") or f"http://127.0.0.1:{port}" for name, port in
            _DEFAULT_PORTS.items()}  # fmt: skip
    for item in overrides:
        name, sep, url = item.partition("=")
        if not sep or name not in urls:
            raise CliError(f"--url takes SERVICE=URL with SERVICE one of {', '.join(SERVICES)}")
        urls[name] = url.rstrip("/")
    return urls


def admin_token(org: str, home: str | None, env: dict[str, str]) -> str:
    """A one-hour admin token for ``org``: SPRAKVAN_TOKEN as it is, else minted like `sprakvan token`."""
    from pydantic import ValidationError

    from sprakvan_shared.auth import DEFAULT_AUDIENCE, DEFAULT_ISSUER, Role, TokenSigner

    from .main import CliError, _private_key_from_env, default_home, read_home_private_key

    if env.get("SPRAKVAN_TOKEN"):
        return env["SPRAKVAN_TOKEN"]
    if home is not None:
        private_key = read_home_private_key(Path(home).expanduser())
    else:
        private_key = _private_key_from_env(env) or read_home_private_key(default_home())
    try:
        signer = TokenSigner(
            private_key,
            issuer=env.get("JWT_ISSUER") or DEFAULT_ISSUER,
            audience=env.get("JWT_AUDIENCE") or DEFAULT_AUDIENCE,
        )
        return signer.mint(subject=f"import@{org}", organisation_id=org, role=Role.ADMIN, ttl=timedelta(hours=1))
    except ValidationError:
        raise CliError(f"--org {org!r} is not an organisation id (lower-case letters, digits, - and _)") from None
    except (ValueError, TypeError) as exc:
        raise CliError(f"the signing key is not a PEM private key: {exc}") from None


async def _with_services(args: argparse.Namespace, work: Any) -> Any:
    import httpx

    from sprakvan_importer import Services

    env = dict(os.environ)
    urls = service_urls(args.url, env)
    token = admin_token(args.org, args.home, env)
    clients = {name: httpx.AsyncClient(base_url=url, timeout=_TIMEOUT, trust_env=False) for name, url in urls.items()}
    try:
        return await work(Services(clients, {"Authorization": f"Bearer {token}"}))
    finally:
        for client in clients.values():
            await client.aclose()


def _progress(kind: str, done: int, total: int) -> None:
    print(f"  {kind}: {done}/{total} rows sent", file=sys.stderr, flush=True)


def cmd_import(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from sprakvan_importer import FileError, ServiceError, format_report, plan_for, read_path, run_import
    from sprakvan_importer.writing import template, write

    from .main import CliError

    if args.template:
        if args.out is None:
            parser.error("--template needs --out FILE.xlsx (or a directory for CSVs)")
        for path in write(template(args.template), args.out):
            print(path)
        return 0
    if args.file is None or args.org is None:
        parser.error("give FILE and --org ORG (or --template sv|en --out FILE)")
    try:
        workbook = read_path(args.file)
    except (OSError, FileError) as exc:
        raise CliError(f"{args.file}: {exc}") from None
    if not workbook.sheets:
        raise CliError(f"{args.file}: no sheet of a known kind (see `sprakvan import --template sv --out t.xlsx`)")

    async def work(services: Any) -> Any:
        plan = await plan_for(workbook, services, args.programme)
        return await run_import(plan, services, dry_run=args.dry_run, progress=None if args.json else _progress)

    try:
        report = asyncio.run(_with_services(args, work))
    except ServiceError as exc:
        raise CliError(str(exc)) from None
    print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) if args.json else format_report(report))
    return 1 if report.refused else 0


def cmd_export(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from sprakvan_importer import ServiceError
    from sprakvan_importer.export import export_tables
    from sprakvan_importer.writing import write

    from .main import CliError

    skipped: list[str] = []
    try:
        tables = asyncio.run(
            _with_services(args, lambda services: export_tables(services, language=args.language, skipped=skipped))
        )
    except ServiceError as exc:
        raise CliError(str(exc)) from None
    for line in skipped:
        print(f"sprakvan export: skipped {line}", file=sys.stderr)
    for path in write(tables, args.out):
        print(path)
    for table in tables:
        print(f"  {table.name}: {len(table.rows)} {'row' if len(table.rows) == 1 else 'rows'}")
    return 0
