"""The consent texts by version, as gettext messages (translated in the catalogues like every string).

A changed wording is a new version with new messages: old sign-ups keep pointing at what they were shown.
"""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 - the gettext convention: marks a message for extraction only
    return message


CONSENT_TEXTS: dict[str, tuple[str, ...]] = {
    "2026-12-01": (
        N_(
            "The organisation that runs this programme stores what you write in this form so that a "
            "coordinator can contact you and find a language friend for you."
        ),
        N_(
            "Only the programme's coordinators can see your name and how to reach you. Statistics for the "
            "programme's funders never contain names or contact details."
        ),
        N_(
            "You can withdraw at any time and ask us to erase your details: tell your coordinator, and "
            "everything about you is deleted."
        ),
    ),
}
