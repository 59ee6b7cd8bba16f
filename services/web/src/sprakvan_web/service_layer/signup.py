"""A sign-up: rate limit, registration at intake, and the consent record kept here."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from sprakvan_shared.auth import Role

from ..adapters.intake import Caller, IntakeClient
from ..domain.consent import Channel, text_hash
from ..domain.signup import Registration
from ..domain.spam import RateLimit

# Whom intake sees registering a self-service sign-up (a coordinator's right to register, for minutes).
SIGNUP_SUBJECT = "web-signup"


def signup_caller(organisation_id: str) -> Caller:
    return Caller(SIGNUP_SUBJECT, organisation_id, Role.COORDINATOR)


async def count_post(pool: asyncpg.Pool, limit: RateLimit, address_key: str, now: datetime) -> int | None:
    """Count this post against its address; the seconds to wait when over the limit, else None."""
    window = limit.window_start(now)
    posts = await pool.fetchval(
        """INSERT INTO signup_rate (address_key, window_start, posts) VALUES ($1, $2, 1)
           ON CONFLICT (address_key, window_start) DO UPDATE SET posts = signup_rate.posts + 1
           RETURNING posts""",
        address_key,
        window,
    )
    if posts == 1:  # the first post of a window clears the old ones
        await pool.execute("DELETE FROM signup_rate WHERE window_start < $1", window)
    return limit.retry_after(posts, window, now)


@dataclass(frozen=True)
class ConsentShown:
    version: str
    language: str  # the locale code the text was shown in
    text: str
    original_text: str | None  # the Swedish original shown beside a draft translation
    shown_at: datetime


async def sign_up(
    pool: asyncpg.Pool,
    intake: IntakeClient,
    registration: Registration,
    *,
    organisation_id: str,
    caller: Caller,
    consent: ConsentShown,
    channel: Channel,
    form_nonce: str,
    assisted_by: uuid.UUID | None = None,
) -> str:
    """Register at intake (idempotent per form view), then keep the consent record; the participant id."""
    given_at = datetime.now(UTC)
    body = {
        **registration.body,
        "consent": {"data_processing": True, "photo": registration.photo_consent, "given_at": given_at.isoformat()},
    }
    key = hashlib.sha256(f"signup|{organisation_id}|{form_nonce}".encode()).hexdigest()[:40]
    participant_id = await intake.register(caller, body, idempotency_key=key)
    texts = [(text_hash(consent.text), consent.text)]
    if consent.original_text is not None:
        texts.append((text_hash(consent.original_text), consent.original_text))
    async with pool.acquire() as conn, conn.transaction():
        for index, (digest, text) in enumerate(texts):
            await conn.execute(
                """INSERT INTO consent_texts (text_sha256, version, language, body) VALUES ($1, $2, $3, $4)
                   ON CONFLICT (text_sha256) DO NOTHING""",
                digest,
                consent.version,
                consent.language if index == 0 else "sv",
                text,
            )
        await conn.execute(
            """INSERT INTO signups (participant_id, organisation_id, programme, contact_language, consent_version,
                                    consent_language, consent_sha256, original_sha256, photo_consent, shown_at,
                                    given_at, channel, assisted_by)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
               ON CONFLICT (participant_id) DO NOTHING""",
            uuid.UUID(participant_id),
            organisation_id,
            registration.body["programme"],
            registration.contact_language,
            consent.version,
            consent.language,
            texts[0][0],
            texts[1][0] if len(texts) > 1 else None,
            registration.photo_consent,
            consent.shown_at,
            given_at,
            channel.value,
            assisted_by,
        )
    return participant_id


async def contact_languages(
    pool: asyncpg.Pool, organisation_id: str, participant_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The language each participant asked to be contacted in (kept here: intake's contract has none)."""
    rows = await pool.fetch(
        "SELECT participant_id, contact_language FROM signups WHERE organisation_id = $1 AND participant_id = ANY($2)",
        organisation_id,
        participant_ids,
    )
    return {row["participant_id"]: row["contact_language"] for row in rows}
