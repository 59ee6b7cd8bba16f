"""Local passwords: argon2id (argon2-cffi's defaults, RFC 9106's second recommendation)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
# Compared against when the user does not exist, so that a wrong user name costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("not a password anyone has")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return _HASHER.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    # argon2 takes tens of milliseconds of CPU: not on the event loop.
    return await asyncio.to_thread(check)
