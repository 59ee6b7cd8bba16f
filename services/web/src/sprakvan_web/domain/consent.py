"""Versioned consent texts. The texts are gettext messages (so each language is translated and
reviewed like the rest), keyed by version; each sign-up stores which version, in which language, its
exact wording (by hash, the wording itself kept once in ``consent_texts``), when it was shown, when it
was given and through which channel."""

from __future__ import annotations

import hashlib
from enum import StrEnum

CURRENT_VERSION = "2026-12-01"


class Channel(StrEnum):
    WEB_FORM = "web_form"  # the person themselves, on the public form
    ASSISTED = "assisted"  # a logged-in coordinator filled it in with them


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
