"""Spam rules without a third-party CAPTCHA: a honeypot field, a signed time token, a per-address limit.

* The honeypot is a field people never see (hidden by CSS, left out of the accessibility tree); a bot
  that fills it gets a fake success and nothing is stored.
* The time token is the moment the form was served, signed: a post sooner than ``min_seconds`` after it
  (a script) or later than ``max_age`` (a page left open overnight) gets the form again, with what was
  entered kept.
* The rate limit counts posts per address in fixed windows, generous enough for a whole SFI class
  behind one school address; over it, 429 with ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

HONEYPOT_FIELD = "website"


class TokenVerdict(StrEnum):
    OK = "ok"
    TOO_FAST = "too_fast"
    TOO_OLD = "too_old"
    INVALID = "invalid"


def _signature(secret: bytes, scope: str, issued: int, nonce: str) -> str:
    return hmac.new(secret, f"{scope}|{issued}|{nonce}".encode(), hashlib.sha256).hexdigest()[:32]


def issue_time_token(secret: bytes, scope: str, now: datetime, nonce: str) -> str:
    """``<unix seconds>.<nonce>.<signature>``; ``scope`` ties it to one form (organisation and programme),
    the nonce to one page view (it also keys the registration's idempotency, so a double post registers once)."""
    issued = int(now.timestamp())
    return f"{issued}.{nonce}.{_signature(secret, scope, issued, nonce)}"


def check_time_token(
    secret: bytes, scope: str, token: str, now: datetime, *, min_seconds: float, max_age: timedelta
) -> TokenVerdict:
    parts = (token or "").split(".")
    if len(parts) != 3 or not parts[0].isdigit() or len(parts[0]) > 12 or not parts[1].isalnum():
        return TokenVerdict.INVALID
    issued, nonce, signature = int(parts[0]), parts[1], parts[2]
    if not hmac.compare_digest(signature, _signature(secret, scope, issued, nonce)):
        return TokenVerdict.INVALID
    age = now.timestamp() - issued
    if age < min_seconds:
        return TokenVerdict.TOO_FAST
    if age > max_age.total_seconds():
        return TokenVerdict.TOO_OLD
    return TokenVerdict.OK


def issued_at(token: str) -> datetime | None:
    """When the form was served (the consent's ``shown_at``); trust it only after ``check_time_token``."""
    head = (token or "").split(".")[0]
    return datetime.fromtimestamp(int(head), tz=UTC) if head.isdigit() and len(head) <= 12 else None


def form_nonce(token: str) -> str:
    parts = (token or "").split(".")
    return parts[1] if len(parts) == 3 else ""


def honeypot_filled(value: str | None) -> bool:
    return bool((value or "").strip())


@dataclass(frozen=True)
class RateLimit:
    limit: int  # posts per window and address
    window: timedelta

    def window_start(self, now: datetime) -> datetime:
        seconds = int(self.window.total_seconds())
        return datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=now.tzinfo)

    def retry_after(self, count: int, window_start: datetime, now: datetime) -> int | None:
        """Seconds to wait when ``count`` (this post included) is over the limit, else None."""
        if count <= self.limit:
            return None
        return max(1, int((window_start + self.window - now).total_seconds()) + 1)


def address_key(secret: bytes, address: str) -> str:
    """What the rate limit stores instead of the address itself (an IP address is personal data)."""
    return hmac.new(secret, address.encode(), hashlib.sha256).hexdigest()[:32]
