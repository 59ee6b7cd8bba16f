"""Per-programme matching settings, with the defaults a new programme starts from."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .model import DEFAULT_FOLLOW_UP_DAYS


class Eligibility(StrEnum):
    INTERVIEWED = "interviewed"  # only participants a coordinator has interviewed (Duo Stockholm's way)
    ALL = "all"


class LanguagePreference(StrEnum):
    SHARED_LANGUAGE = "shared_language"  # a shared language besides Swedish helps the first meetings
    SWEDISH_ONLY = "swedish_only"  # no other shared language, so the pair has to speak Swedish


class Weights(BaseModel):
    """Points for a full match on each criterion; a partial match earns a share of them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    languages: int = Field(25, ge=0, le=100)
    interests: int = Field(20, ge=0, le=100)
    district: int = Field(20, ge=0, le=100)
    availability: int = Field(15, ge=0, le=100)
    age: int = Field(5, ge=0, le=100)
    # Earned by every pair: the higher it is, the more the number of pairs outweighs their quality.
    pair: int = Field(40, ge=0, le=100)
    # Earned for matching a newcomer who has waited the longest time that counts; less for a shorter wait.
    waiting: int = Field(30, ge=0, le=100)


class ProgrammeSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    eligibility: Eligibility = Eligibility.INTERVIEWED
    weights: Weights = Weights()
    language_preference: LanguagePreference = LanguagePreference.SHARED_LANGUAGE
    max_wait_days: int = Field(180, ge=1, le=3650, description="Waiting longer than this counts no more.")
    follow_up_days: tuple[int, ...] = Field(
        DEFAULT_FOLLOW_UP_DAYS, min_length=0, max_length=6, description="Days after the matching conversation."
    )
    candidates_per_newcomer: int = Field(30, ge=1, le=200)

    @field_validator("follow_up_days")
    @classmethod
    def _days_in_range(cls, days: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 1 <= d <= 730 for d in days):
            raise ValueError("follow-up days are between 1 and 730")
        return tuple(sorted(set(days)))


DEFAULT_SETTINGS = ProgrammeSettings()
