"""``sprakvan deadletters list|redrive``: what consumers gave up on, and sending it back to them.

A dead letter is the original message, byte for byte, under ``<ns>.deadletter.<service>.<subject>``
with the reason in headers. Redrive publishes it to ``<ns>.redrive.<service>.<subject>``, which that
service's redrive consumer applies through the same gate as its main consumer (a stale one is
skipped), and deletes the dead letter.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: `sprakvan --help` stays quick
    from sprakvan_shared.contracts.subjects import Namespace


@dataclass(frozen=True)
class DeadLetter:
    sequence: int  # in the dead-letter stream
    service: str
    consumer: str
    original_subject: str
    original_sequence: int
    error_type: str
    error: str
    deliveries: int


async def list_dead_letters(nc, ns: Namespace, *, service: str | None = None) -> list[DeadLetter]:  # noqa: ANN001
    from nats.js.errors import NotFoundError

    from sprakvan_shared.consumer import (
        DLQ_CONSUMER,
        DLQ_DELIVERIES,
        DLQ_ERROR,
        DLQ_ERROR_TYPE,
        DLQ_ORIGINAL_SEQUENCE,
        DLQ_ORIGINAL_SUBJECT,
    )
    from sprakvan_shared.contracts.subjects import DEAD_LETTER_STREAM

    js = nc.jetstream()
    stream = ns.stream(DEAD_LETTER_STREAM)
    found: list[DeadLetter] = []
    try:
        info = await js.stream_info(stream)
    except NotFoundError:  # no service has started in this namespace yet
        return found
    if not info.state.messages:
        return found
    subjects = ns.subject(f"deadletter.{service}.>" if service else "deadletter.>")
    sequence = 0
    while True:  # the next dead letter after `sequence`, skipping the redrives in the same stream
        try:
            raw = await js.get_msg(stream, seq=sequence + 1, subject=subjects, next=True)
        except NotFoundError:
            break
        sequence = raw.seq
        headers = raw.headers or {}
        found.append(
            DeadLetter(
                sequence=raw.seq,
                service=ns.relative(raw.subject).split(".")[1],
                consumer=headers.get(DLQ_CONSUMER, ""),
                original_subject=headers.get(DLQ_ORIGINAL_SUBJECT, ""),
                original_sequence=int(headers.get(DLQ_ORIGINAL_SEQUENCE, "0")),
                error_type=headers.get(DLQ_ERROR_TYPE, ""),
                error=headers.get(DLQ_ERROR, ""),
                deliveries=int(headers.get(DLQ_DELIVERIES, "0")),
            )
        )
    return found


async def redrive(nc, ns: Namespace, sequences: Sequence[int], *, not_found: list[int] | None = None) -> int:  # noqa: ANN001
    """Send these dead letters back to their consumers; returns how many were sent. A sequence that is
    not a dead letter (gone, or a redrive) is left alone and added to ``not_found``."""
    from nats.js.errors import NotFoundError

    from sprakvan_shared.contracts.subjects import DEAD_LETTER_STREAM, HEADER_MSG_ID, redrive_subject

    js = nc.jetstream()
    stream = ns.stream(DEAD_LETTER_STREAM)
    sent = 0
    for sequence in sequences:
        try:
            raw = await js.get_msg(stream, sequence)
        except NotFoundError:
            raw = None
        relative = ns.relative(raw.subject) if raw is not None else ""
        if not relative.startswith("deadletter."):
            if not_found is not None:
                not_found.append(sequence)
            continue
        _, service, original = relative.split(".", 2)
        await js.publish(
            ns.subject(redrive_subject(service, original)),
            raw.data or b"",
            stream=stream,
            headers={HEADER_MSG_ID: f"redrive.{stream}.{sequence}"},
        )
        await js.delete_msg(stream, sequence)
        sent += 1
    return sent


def add_commands(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "deadletters",
        help="list dead letters, or send them back to their consumers",
        description="Messages a consumer gave up on (after CONSUMER_MAX_DELIVERIES, or invalid at once). "
        "Connects to NATS_URL in NATS_NAMESPACE.",
    )
    parser.add_argument("action", choices=("list", "redrive"))
    parser.add_argument("--service", help="only this consuming service's dead letters")
    parser.add_argument("--seq", type=int, nargs="*", help="redrive these (stream sequences from `list`)")
    parser.add_argument("--all", action="store_true", help="redrive every listed dead letter")
    parser.add_argument("--nats-url", default=os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))
    parser.add_argument("--namespace", default=os.environ.get("NATS_NAMESPACE", "sprakvan"))
    parser.set_defaults(handler=cmd_deadletters, parser=parser)


def cmd_deadletters(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.action == "redrive" and not (args.seq or args.all):
        parser.error("redrive needs --seq N... or --all")
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    import nats

    from sprakvan_shared.contracts.subjects import Namespace

    ns = Namespace(args.namespace)
    nc = await nats.connect([u.strip() for u in args.nats_url.split(",")], connect_timeout=5)
    try:
        letters = await list_dead_letters(nc, ns, service=args.service)
        if args.action == "list":
            print(f"{len(letters)} dead letters")
            for d in letters:
                print(f"{d.sequence}\t{d.consumer}\t{d.original_subject}\t{d.deliveries}\t{d.error_type}: {d.error}")
            return 0
        chosen = [d.sequence for d in letters] if args.all else list(args.seq)
        not_found: list[int] = []
        print(f"redriven: {await redrive(nc, ns, chosen, not_found=not_found)}")
        if not_found:
            print(f"not dead letters (left alone): {' '.join(map(str, not_found))}", file=sys.stderr)
            return 1
        return 0
    finally:
        await nc.close()
