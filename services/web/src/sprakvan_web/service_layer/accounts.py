"""Local accounts and server-side sessions."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from sprakvan_shared.auth import Role

from ..adapters.passwords import hash_password, verify_password

LOCAL_ISSUER = "local"
MIN_PASSWORD_LENGTH = 12


@dataclass(frozen=True)
class User:
    id: uuid.UUID
    organisation_id: str
    subject: str
    display_name: str
    role: Role


@dataclass(frozen=True)
class Session:
    user: User
    csrf_token: str


class UserExists(Exception):
    pass


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user(row: asyncpg.Record) -> User:
    return User(row["id"], row["organisation_id"], row["subject"], row["display_name"], Role(row["role"]))


async def create_local_user(
    pool: asyncpg.Pool, *, organisation_id: str, username: str, password: str, role: Role, display_name: str = ""
) -> User:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    row = await pool.fetchrow(
        """INSERT INTO users (id, organisation_id, issuer, subject, display_name, role, password_hash)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (issuer, subject) DO NOTHING RETURNING *""",
        uuid.uuid4(),
        organisation_id,
        LOCAL_ISSUER,
        username,
        display_name or username,
        Role(role).value,
        hash_password(password),
    )
    if row is None:
        raise UserExists(username)
    return _user(row)


async def has_users(pool: asyncpg.Pool, organisation_id: str) -> bool:
    return bool(await pool.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE organisation_id = $1)", organisation_id))


async def authenticate(pool: asyncpg.Pool, username: str, password: str) -> User | None:
    row = await pool.fetchrow(
        "SELECT * FROM users WHERE issuer = $1 AND subject = $2 AND NOT disabled", LOCAL_ISSUER, username
    )
    ok = await verify_password(row["password_hash"] if row else None, password)
    return _user(row) if row is not None and ok else None


async def start_session(pool: asyncpg.Pool, user: User, ttl: timedelta) -> str:
    """A new session; the cookie's value (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    await pool.execute(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4)",
        _hash(token),
        user.id,
        secrets.token_urlsafe(32),
        datetime.now(UTC) + ttl,
    )
    await pool.execute("DELETE FROM sessions WHERE expires_at < now()")
    return token


async def session_of(pool: asyncpg.Pool, token: str | None) -> Session | None:
    if not token or len(token) > 100:
        return None
    row = await pool.fetchrow(
        """SELECT u.*, s.csrf_token FROM sessions s JOIN users u ON u.id = s.user_id
           WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT u.disabled""",
        _hash(token),
    )
    return Session(_user(row), row["csrf_token"]) if row is not None else None


async def end_session(pool: asyncpg.Pool, token: str | None) -> None:
    if token:
        await pool.execute("DELETE FROM sessions WHERE token_hash = $1", _hash(token))


class LastAdmin(Exception):
    """An organisation keeps at least one admin (its break-glass account)."""


async def users_of(pool: asyncpg.Pool, organisation_id: str) -> list[User]:
    rows = await pool.fetch(
        "SELECT * FROM users WHERE organisation_id = $1 AND NOT disabled ORDER BY subject", organisation_id
    )
    return [_user(row) for row in rows]


async def still_holds(pool: asyncpg.Pool, user_id: uuid.UUID, organisation_id: str, role: Role) -> bool:
    """The user still has this role in this organisation and is not disabled: what a long task done in a
    user's name (an import) asks before each step, so that a demotion or a disabled account stops it."""
    found = await pool.fetchval(
        "SELECT true FROM users WHERE id = $1 AND organisation_id = $2 AND role = $3 AND NOT disabled",
        user_id, organisation_id, Role(role).value,
    )  # fmt: skip
    return found is not None


async def change_role(pool: asyncpg.Pool, organisation_id: str, user_id: uuid.UUID, role: Role) -> bool:
    """False when no such user is in the organisation; ``LastAdmin`` when it would leave none."""
    async with pool.acquire() as conn, conn.transaction():
        # Lock the organisation's admins, so that two admins demoting each other cannot both succeed.
        admins = await conn.fetch(
            "SELECT id FROM users WHERE organisation_id = $1 AND role = 'admin' AND NOT disabled FOR UPDATE",
            organisation_id,
        )
        if role is not Role.ADMIN and [row["id"] for row in admins] == [user_id]:
            raise LastAdmin(str(user_id))
        status = await conn.execute(
            "UPDATE users SET role = $3 WHERE organisation_id = $1 AND id = $2", organisation_id, user_id, role.value
        )
    return status.endswith(" 1")


async def user_for_identity(
    pool: asyncpg.Pool,
    *,
    issuer: str,
    subject: str,
    display_name: str,
    organisation_id: str,
    role: Role,
    provider_decides: bool = False,
) -> User | None:
    """The user of an OpenID Connect identity, created at its first login; None when disabled.

    ``provider_decides`` (a roles claim is configured): organisation and role are the provider's at every
    login, so a change of group there takes effect at the next login here. Otherwise they are set once and
    an admin changes the role."""
    if issuer == LOCAL_ISSUER:
        raise ValueError("an OpenID Connect identity cannot be a local account")  # break-glass stays local
    keep = "" if not provider_decides else ", organisation_id = EXCLUDED.organisation_id, role = EXCLUDED.role"
    row = await pool.fetchrow(
        f"""INSERT INTO users (id, organisation_id, issuer, subject, display_name, role)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (issuer, subject) DO UPDATE SET display_name = EXCLUDED.display_name{keep}
           RETURNING *""",
        uuid.uuid4(),
        organisation_id,
        issuer,
        subject,
        display_name,
        Role(role).value,
    )
    return None if row["disabled"] else _user(row)


async def end_sessions_of_identity(pool: asyncpg.Pool, *, issuer: str, subject: str) -> None:
    """The provider gives this identity no role any more: its sessions here end too (the row stays, so that
    the user is the same one when a group gives it a role again)."""
    await pool.execute(
        "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE issuer = $1 AND subject = $2)",
        issuer,
        subject,
    )


async def disable_user(pool: asyncpg.Pool, organisation_id: str, user_id: uuid.UUID) -> bool:
    """Takes the user's access away (their sessions end); ``LastAdmin`` when it would leave no admin."""
    async with pool.acquire() as conn, conn.transaction():
        admins = await conn.fetch(
            "SELECT id FROM users WHERE organisation_id = $1 AND role = 'admin' AND NOT disabled FOR UPDATE",
            organisation_id,
        )
        if [row["id"] for row in admins] == [user_id]:
            raise LastAdmin(str(user_id))
        status = await conn.execute(
            "UPDATE users SET disabled = true WHERE organisation_id = $1 AND id = $2 AND NOT disabled",
            organisation_id,
            user_id,
        )
        await conn.execute("DELETE FROM sessions WHERE user_id = $1", user_id)
    return status.endswith(" 1")
