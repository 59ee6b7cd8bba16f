"""structlog configuration: JSON lines with the correlation id bound per request or message.

Logs carry ids, never names, emails or phone numbers; ``drop_personal_data`` is the safety net for a
careless ``log.info(..., email=...)``.
"""

from __future__ import annotations

import logging
import sys
import uuid
from typing import Any

import structlog

PERSONAL_KEYS = frozenset({"name", "first_name", "last_name", "email", "phone", "notes", "address", "personal_number"})


def drop_personal_data(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key in PERSONAL_KEYS & event_dict.keys():
        event_dict[key] = "[redacted]"
    return event_dict


class _CurrentStderr:
    """Whatever ``sys.stderr`` is at the time of writing: structlog's cached loggers keep their file, and a
    test that captures stderr (or a process that swaps it) must still see every line."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class AccessLogWithoutInput(logging.Filter):
    """uvicorn's access lines (``sprakvan serve --access-log``) with the path only: a query string carries
    input (a search for a name, a feed's secret) and the client's address is personal data."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5:
            _client, method, path, version, status = record.args
            record.args = ("-", method, str(path).split("?", 1)[0], version, status)
        return True


_ACCESS_FILTER = AccessLogWithoutInput()


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)

    def add_service(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        # A processor, not a context variable: uvicorn's tasks do not inherit the lifespan's context.
        event_dict.setdefault("service", service)
        return event_dict

    processors: list[Any] = [
        add_service,
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        drop_personal_data,
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    # Route stdlib logging (uvicorn, faststream, asyncpg) through the same renderer.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=processors,
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # httpx logs every request's URL at INFO, query string and all (a search for a name, a sign-up's
    # campaign): a service calling another must not write its input into its log that way.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
    logging.getLogger("uvicorn.access").addFilter(_ACCESS_FILTER)  # a set: adding it again changes nothing


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def bind_correlation_id(correlation_id: str | None) -> str:
    correlation_id = correlation_id or new_correlation_id()
    structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
    return correlation_id


def current_correlation_id() -> str | None:
    return structlog.contextvars.get_contextvars().get("correlation_id")
