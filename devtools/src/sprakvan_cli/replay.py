"""``sprakvan replay NAME``: a service drops its read models and rebuilds them from the streams (the
kit's ``Service.replay``; reporting has one). Configured like the service itself: DATABASE_URL,
NATS_URL, NATS_NAMESPACE and the service's own settings."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any


def add_replay_command(commands: Any) -> None:
    replay = commands.add_parser(
        "replay",
        help="rebuild a service's read models from the streams (reporting)",
        description="Drop the service's read models and rebuild them from the streams, in one transaction: "
        "the running service keeps answering from the old rows until the rebuild commits.",
    )
    replay.add_argument("name", metavar="NAME", help="the service, e.g. reporting")
    replay.set_defaults(handler=cmd_replay, parser=replay)


def cmd_replay(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from sprakvan_shared.logging import configure_logging

    from .main import CliError, load_service, service_entry_points

    known = service_entry_points()
    if args.name not in known:
        parser.error(f"unknown service {args.name!r}; known services: {', '.join(known) or 'none'}")
    spec = load_service(known[args.name])
    if spec.replay is None:
        raise CliError(f"{spec.name} has no read models to rebuild")
    settings = spec.settings()
    configure_logging(spec.name, settings.log_level, settings.log_json)
    print(asyncio.run(spec.replay(settings)))
    return 0
