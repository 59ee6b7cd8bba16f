"""``python -m sprakvan_reporting replay``: drop the read models and rebuild them from the streams.

Configured like the service (DATABASE_URL, NATS_URL, NATS_NAMESPACE, REPORTING_TIMEZONE,
REPORTING_REPLAY_BATCH_SIZE). Safe while the service runs: the rebuild is one transaction, reports read
the old rows until it commits, and live events wait and apply on top.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from sprakvan_shared.logging import configure_logging

from .service import SERVICE
from .settings import ReportingSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sprakvan_reporting", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["replay"])
    parser.parse_args(argv)
    settings = ReportingSettings()
    configure_logging("reporting", settings.log_level, settings.log_json)
    print(asyncio.run(SERVICE.replay(settings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
