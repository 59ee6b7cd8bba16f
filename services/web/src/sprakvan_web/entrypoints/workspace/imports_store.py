"""Uploaded spreadsheets between the dry run and the confirmation, kept server-side (``pending_imports``).

An upload is the admin's own: it is found only by its id together with the admin's organisation and user,
so another user's or organisation's id finds nothing (the page answers 404). It lives an hour at most:
each visit of the page, upload and confirmation prunes the older ones, and a confirmation moves it into a
run (``imports_runs.begin_from_upload``).
"""

from __future__ import annotations

import uuid

import asyncpg

LIFETIME = "1 hour"


async def prune(conn: asyncpg.Pool | asyncpg.Connection) -> None:
    await conn.execute(f"DELETE FROM pending_imports WHERE created_at < now() - interval '{LIFETIME}'")


async def keep(
    pool: asyncpg.Pool, *, organisation_id: str, user_id: uuid.UUID, file_name: str, programme: str | None,
    content: bytes,
) -> uuid.UUID:  # fmt: skip
    upload_id = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        await prune(conn)
        await conn.execute(
            "INSERT INTO pending_imports (id, organisation_id, user_id, file_name, programme, content)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            upload_id, organisation_id, user_id, file_name, programme, content,
        )  # fmt: skip
    return upload_id
