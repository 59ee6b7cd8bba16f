"""A realistic demo programme, loaded through the intake HTTP API.

Going through the API (not the database) means the demo behaves like real traffic: every
registration, interview and withdrawal is validated by intake and published to NATS as an event.

The programme is modelled on Linköping's language-friend programme as its 2019 review describes it:
199 newcomers (89 women, 110 men) and 89 established residents (65 women, 24 men), in the city's
districts, referred by SFI, the municipality, associations and a cake party at city hall. Names are
typical first names with obviously made-up surnames (Exempelsson, Låtsasdotter...), e-mail addresses
are under example.org and phone numbers in the range the Swedish regulator reserves for fiction.

Everything is derived from ``seed``: participant ``i`` of a role always gets the same body and the
same ``Idempotency-Key``, whatever the size of the programme, so loading it again (``sprakvan up
--demo`` twice, or a bigger programme after a smaller one) registers nobody twice. Interviews and
withdrawals are only sent when the participant's current status still lacks them.

Before registering, the loader gives the demo organisation its configuration (``demo_configuration()``:
the programme, Linköping's districts and which neighbour which, the interests, referral sources and the
campaign the participants use), with an admin token; a configuration that is already the same is left
as it is.

Usable on its own::

    summary = await load_demo("http://127.0.0.1:8001", token, newcomers=20, established=10, admin_token=admin)
"""

from __future__ import annotations

import asyncio
import random
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

__all__ = [
    "DEMO_ORGANISATION",
    "ESTABLISHED",
    "NEWCOMERS",
    "SEED",
    "DemoLoadError",
    "DemoParticipant",
    "DemoSummary",
    "demo_configuration",
    "demo_programme",
    "load_demo",
    "split_size",
]

DEMO_ORGANISATION = "demo"
NEWCOMERS = 199
ESTABLISHED = 89
SEED = 2019

# Linköping 2019: newcomers 89 women / 110 men, established 65 women / 24 men.
_WOMEN_SHARE = {"newcomer": (89, 199), "established": (65, 89)}
CAMPAIGN = "cake party at city hall 2019"
# Birth years and dates are fixed, not taken from today's clock: the request body must be the same
# on every run for the Idempotency-Key to replay instead of failing as "reused for another request".
_REFERENCE_YEAR = 2025
_CONSENT_FROM = datetime(2025, 1, 13, 9, 0, tzinfo=UTC)
_CONSENT_DAYS = 260


class DemoLoadError(RuntimeError):
    """Intake refused or failed a demo request."""


@dataclass(frozen=True)
class DemoParticipant:
    key: str  # Idempotency-Key of the registration
    body: dict[str, Any]  # POST /participants
    interview: dict[str, Any] | None  # POST /participants/{id}/interviews, if interviewed
    withdrawal: dict[str, Any] | None  # POST /participants/{id}/withdraw, if withdrawn


@dataclass
class DemoSummary:
    newcomers: int = 0
    established: int = 0
    created: int = 0
    existing: int = 0  # registered by an earlier load (idempotent replay)
    interviewed: int = 0
    withdrawn: int = 0
    seconds: float = 0.0
    participant_ids: list[str] = field(default_factory=list, repr=False)

    def __str__(self) -> str:
        total = self.newcomers + self.established
        return (
            f"demo programme: {total} participants ({self.newcomers} newcomers, {self.established} established) "
            f"in organisation {DEMO_ORGANISATION!r}: {self.created} registered now, {self.existing} already there; "
            f"{self.interviewed} interviewed, {self.withdrawn} withdrawn ({self.seconds:.1f} s)"
        )


def split_size(total: int) -> tuple[int, int]:
    """(newcomers, established) for a programme of ``total`` participants, in the 2019 proportions."""
    if total < 0:
        raise ValueError("the demo size cannot be negative")
    newcomers = round(total * NEWCOMERS / (NEWCOMERS + ESTABLISHED))
    return newcomers, total - newcomers


# -- the people --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Origin:
    weight: int
    language: str  # native language
    also: tuple[str, ...]  # other languages people of this origin often speak
    women: tuple[str, ...]
    men: tuple[str, ...]


# fmt: off
_ORIGINS = (
    _Origin(28, "ar", ("en", "ckb", "fr"), ("Amira", "Rania", "Layla", "Nour", "Huda", "Salma", "Rasha"),
            ("Ahmad", "Omar", "Khaled", "Yousef", "Tarek", "Sami", "Bashar")),
    _Origin(16, "prs", ("fa", "ps", "en"), ("Zahra", "Mariam", "Farzana", "Shabnam", "Nilofar", "Fatema"),
            ("Ali", "Mohammad", "Hamid", "Farid", "Jawad", "Mustafa")),
    _Origin(7, "fa", ("en", "ar"), ("Shirin", "Leila", "Parisa", "Nasrin", "Maryam"),
            ("Reza", "Dariush", "Behnam", "Kaveh", "Arash")),
    _Origin(13, "so", ("ar", "en"), ("Hodan", "Faadumo", "Sahra", "Ayaan", "Hibo", "Ubah"),
            ("Abdi", "Mahad", "Liban", "Abdirahman", "Guled", "Yasin")),
    _Origin(11, "ti", ("am", "ar", "en"), ("Helen", "Senait", "Yodit", "Selam", "Rahel", "Saba"),
            ("Yonas", "Dawit", "Filmon", "Tesfay", "Samuel", "Merhawi")),
    _Origin(6, "ckb", ("ar", "fa", "en"), ("Shilan", "Zhiyan", "Avin", "Nazdar"),
            ("Karwan", "Rebwar", "Diyar", "Hawre")),
    _Origin(5, "kmr", ("ar", "tr"), ("Berfin", "Rojda", "Helin", "Dilan"), ("Azad", "Baran", "Serhat", "Rodi")),
    _Origin(8, "uk", ("ru", "en", "pl"), ("Olena", "Iryna", "Oksana", "Kateryna", "Tetiana"),
            ("Andrii", "Oleksandr", "Dmytro", "Serhii", "Taras")),
    _Origin(3, "ps", ("prs", "en"), ("Malalai", "Zarghona", "Palwasha"), ("Wahid", "Naveed", "Gul")),
    _Origin(3, "am", ("ti", "en"), ("Meron", "Hirut", "Tigist"), ("Abebe", "Bereket", "Kebede")),
)

_SWEDISH_WOMEN = ("Anna", "Eva", "Maria", "Karin", "Birgitta", "Kristina", "Ingrid", "Margareta", "Lena",
                  "Elisabeth", "Sara", "Emma", "Ulla", "Gunilla", "Maja")
_SWEDISH_MEN = ("Lars", "Anders", "Johan", "Per", "Erik", "Karl", "Nils", "Mikael", "Olof", "Björn", "Gunnar")
# Obviously invented: nobody should mistake the demo for real people.
_SURNAMES = ("Exempelsson", "Provsson", "Testberg", "Demovik", "Påhittsdotter", "Låtsasson", "Fiktivsson",
             "Skenström", "Låtsasdotter", "Exempeldotter", "Prövholm", "Demoqvist")

_NEWCOMER_DISTRICTS = {"Skäggetorp": 30, "Berga": 16, "Ryd": 15, "Lambohov": 12, "Ekholmen": 10,
                       "Innerstaden": 7, "Johannelund": 5, "Tannefors": 5}
_ESTABLISHED_DISTRICTS = {"Innerstaden": 24, "Johannelund": 14, "Tannefors": 13, "Ryd": 11, "Berga": 10,
                          "Ekholmen": 9, "Lambohov": 8, "Skäggetorp": 6}
_SWEDISH_LEVELS = {"none": 10, "A1": 24, "A2": 25, "B1": 24, "B2": 12, "C1": 5}
_INTERESTS = {"fika": 30, "walks": 24, "cooking": 18, "football": 12, "music": 12, "reading": 10,
              "gardening": 9, "floorball": 6, "crafts": 7, "swimming": 6, "chess": 4, "cycling": 6,
              "board games": 6, "berry picking": 5, "choir": 4, "photography": 4, "baking": 8, "museums": 5}
_NEWCOMER_REFERRALS = {"sfi": 34, "municipality": 16, "employment_service": 12, "friend": 12, "red_cross": 7,
                       "church": 4, "womens_association": 5, "library": 4, "campaign": 4, "self": 2}
_ESTABLISHED_REFERRALS = {"self": 16, "friend": 20, "campaign": 18, "fair": 8, "church": 10, "library": 8,
                          "red_cross": 6, "womens_association": 6, "municipality": 4, "other": 4}
_WITHDRAWAL_REASONS = {"no_time": 4, "moved": 3, "found_contacts": 2, "unreachable": 2, "not_interested": 1}
_INTERVIEW_NOTES = (
    "Prefers to meet at the library.", "Would like someone who also has small children.",
    "Works shifts; weekends suit best.", "Very keen on practising Swedish over fika.",
    "Interested in outdoor activities.", "Wants help understanding the school system.",
    "", "", "",
)
_SLOTS = [(day, part) for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
          for part in ("morning", "afternoon", "evening")]
# fmt: on


PROGRAMME = "sprakvan"

# -- the organisation's configuration ------------------------------------------------------------

# Neighbouring districts, roughly as the city lies (Innerstaden in the middle; Skäggetorp and
# Johannelund to the north, Ryd and Lambohov to the west and south-west, Ekholmen and Berga to the
# south, Tannefors to the east). Intake makes the relation symmetric; it is listed both ways here.
_NEIGHBOURS = {
    "Innerstaden": ("Johannelund", "Tannefors", "Berga", "Ryd", "Skäggetorp"),
    "Skäggetorp": ("Innerstaden", "Johannelund", "Ryd"),
    "Johannelund": ("Innerstaden", "Skäggetorp", "Tannefors"),
    "Tannefors": ("Innerstaden", "Johannelund", "Berga"),
    "Berga": ("Innerstaden", "Tannefors", "Ekholmen"),
    "Ekholmen": ("Berga", "Lambohov"),
    "Lambohov": ("Ekholmen", "Ryd"),
    "Ryd": ("Innerstaden", "Skäggetorp", "Lambohov"),
}
_DISTRICT_LABELS_EN = {"Innerstaden": "City centre"}
_INTEREST_LABELS_SV = {
    "fika": "Fika", "walks": "Promenader", "cooking": "Matlagning", "football": "Fotboll", "music": "Musik",
    "reading": "Läsning", "gardening": "Trädgård", "floorball": "Innebandy", "crafts": "Hantverk",
    "swimming": "Simning", "chess": "Schack", "cycling": "Cykling", "board games": "Sällskapsspel",
    "berry picking": "Bärplockning", "choir": "Körsång", "photography": "Fotografering", "baking": "Bakning",
    "museums": "Museer",
}  # fmt: skip
_REFERRAL_LABELS = {
    "self": ("På eget initiativ", "On their own initiative"),
    "friend": ("Via en vän", "Through a friend"),
    "municipality": ("Linköpings kommun", "The municipality of Linköping"),
    "employment_service": ("Arbetsförmedlingen", "The Swedish Public Employment Service"),
    "sfi": ("SFI", "SFI (Swedish for immigrants)"),
    "red_cross": ("Röda Korset", "The Red Cross"),
    "church": ("Svenska kyrkan eller annat samfund", "The Church of Sweden or another congregation"),
    "womens_association": ("Kvinnoförening", "A women's association"),
    "library": ("Stadsbiblioteket", "The city library"),
    "fair": ("Föreningsmässa", "An association fair"),
    "campaign": ("Kampanj", "A campaign"),
    "other": ("Annat", "Other"),
}
_CAMPAIGN_SV = "Tårtkalas i stadshuset 2019"


def _labels(sv: str, en: str) -> dict[str, str]:
    return {"sv": sv, "en": en}


def demo_configuration() -> dict[str, Any]:
    """The ``PUT /configuration`` body of the demo organisation: every code its participants use."""
    return {
        "programmes": [
            {"code": PROGRAMME, "kind": "sprakvan", "labels": _labels("Språkvän Linköping", "Language friends")}
        ],
        "districts": [
            {
                "code": vocabulary_code(name),
                "labels": _labels(name, _DISTRICT_LABELS_EN.get(name, name)),
                "neighbours": [vocabulary_code(n) for n in neighbours],
            }
            for name, neighbours in _NEIGHBOURS.items()
        ],
        "interests": [
            {"code": vocabulary_code(name), "labels": _labels(sv, name.capitalize())}
            for name, sv in _INTEREST_LABELS_SV.items()
        ],
        "campaigns": [{"code": vocabulary_code(CAMPAIGN), "labels": _labels(_CAMPAIGN_SV, CAMPAIGN.capitalize())}],
        "referral_sources": [{"code": code, "labels": _labels(sv, en)} for code, (sv, en) in _REFERRAL_LABELS.items()],
    }


def _slot_weight(day: str, part: str) -> int:
    # Weekday evenings and weekend daytime are when people have time.
    if day in ("sat", "sun"):
        return 1 if part == "evening" else 5
    return {"morning": 1, "afternoon": 2, "evening": 5}[part]


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _sample(rng: random.Random, items: Sequence[Any], weights: Sequence[int], k: int) -> list[Any]:
    """``k`` distinct items, drawn by weight (``random.sample`` only knows repeat counts)."""
    pool, pool_weights, chosen = list(items), list(weights), []
    for _ in range(min(k, len(pool))):
        index = rng.choices(range(len(pool)), weights=pool_weights)[0]
        chosen.append(pool.pop(index))
        pool_weights.pop(index)
    return chosen


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def vocabulary_code(label: str) -> str:
    """ "Skäggetorp" -> "skaggetorp", "board games" -> "board-games": the demo vocabulary's codes."""
    return "-".join(_ascii(label).split())


def _is_woman(role: str, index: int) -> bool:
    # Spread the 2019 share evenly over the indices, so any prefix of the programme (a smaller demo)
    # keeps the proportions and participant i's gender does not depend on the programme's size.
    women, total = _WOMEN_SHARE[role]
    return (index + 1) * women // total > index * women // total


def _participant(seed: int, role: str, index: int) -> DemoParticipant:
    # One generator per participant: its data depends on (seed, role, index) only.
    rng = random.Random(f"sprakvan-demo/{seed}/{role}/{index}")
    newcomer = role == "newcomer"
    gender = "woman" if _is_woman(role, index) else "man"
    if newcomer:
        origin = rng.choices(_ORIGINS, weights=[o.weight for o in _ORIGINS])[0]
        first_name = rng.choice(origin.women if gender == "woman" else origin.men)
        age = rng.choices(range(19, 66), weights=[6 if 24 <= a <= 42 else 2 for a in range(19, 66)])[0]
        languages = [{"code": origin.language, "level": "native"}]
        for code in _sample(rng, origin.also, [3, 2, 1][: len(origin.also)], rng.choice((0, 1, 1, 2))):
            languages.append({"code": code, "level": rng.choice(("basic", "conversational", "fluent"))})
        district = _pick(rng, _NEWCOMER_DISTRICTS)
        referral = _pick(rng, _NEWCOMER_REFERRALS)
    else:
        first_name = rng.choice(_SWEDISH_WOMEN if gender == "woman" else _SWEDISH_MEN)
        # Many language friends are recently retired; some are students and young professionals.
        age = rng.choices(range(21, 82), weights=[6 if a >= 60 else 3 if a <= 35 else 2 for a in range(21, 82)])[0]
        languages = [
            {"code": "sv", "level": "native"},
            {"code": "en", "level": rng.choice(("conversational", "fluent", "fluent"))},
        ]
        if rng.random() < 0.3:
            languages.append({"code": rng.choice(("de", "fr", "es", "ar", "fi")), "level": "basic"})
        district = _pick(rng, _ESTABLISHED_DISTRICTS)
        referral = _pick(rng, _ESTABLISHED_REFERRALS)
    last_name = rng.choice(_SURNAMES)
    number = f"{'n' if newcomer else 'e'}{index:03d}"
    email = f"{_ascii(first_name)}.{_ascii(last_name)}.{number}@example.org" if rng.random() < 0.85 else None
    # 070-174 06 05 to 070-174 06 99: numbers PTS reserves for fiction.
    phone = f"+46 70 174 06 {rng.randint(5, 99):02d}" if email is None or rng.random() < 0.4 else None

    interests = _sample(rng, list(_INTERESTS), list(_INTERESTS.values()), rng.randint(2, 5))
    availability = [
        {"weekday": day, "part_of_day": part}
        for day, part in _sample(rng, _SLOTS, [_slot_weight(*s) for s in _SLOTS], rng.randint(2, 5))
    ]
    wishes: dict[str, Any] = {"same_gender": rng.random() < (0.4 if newcomer and gender == "woman" else 0.1)}
    if rng.random() < 0.15:
        low = rng.choice((20, 25, 30, 40))
        wishes |= {"age_min": low, "age_max": low + rng.choice((15, 25, 40))}
    given_at = _CONSENT_FROM + timedelta(days=rng.randrange(_CONSENT_DAYS), minutes=rng.randrange(600))

    body: dict[str, Any] = {
        "role": role,
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "phone": phone,
        "gender": gender,
        "birth_year": _REFERENCE_YEAR - age,
        "programme": PROGRAMME,
        "district": vocabulary_code(district),
        "languages": languages,
        "swedish_level": _pick(rng, _SWEDISH_LEVELS) if newcomer else None,
        "interests": [vocabulary_code(interest) for interest in interests],
        "availability": availability,
        "wishes": wishes,
        "capacity": None if newcomer else rng.choices((1, 2, 3), weights=(6, 3, 1))[0],
        "referral_source": referral,
        "campaign": vocabulary_code(CAMPAIGN) if referral == "campaign" else None,
        "consent": {"data_processing": True, "photo": rng.random() < 0.6, "given_at": given_at.isoformat()},
    }
    interview = None
    if rng.random() < (0.65 if newcomer else 0.75):
        held_on = given_at.date() + timedelta(days=rng.randint(3, 40))
        interview = {"held_on": held_on.isoformat(), "notes": rng.choice(_INTERVIEW_NOTES)}
    withdrawal = {"reason": _pick(rng, _WITHDRAWAL_REASONS)} if rng.random() < 0.06 else None
    return DemoParticipant(f"sprakvan-demo-{seed}-{number}", body, interview, withdrawal)


def demo_programme(
    *, newcomers: int = NEWCOMERS, established: int = ESTABLISHED, seed: int = SEED
) -> list[DemoParticipant]:
    """The demo participants, newcomers first; the same for the same arguments."""
    return [_participant(seed, "newcomer", i) for i in range(newcomers)] + [
        _participant(seed, "established", i) for i in range(established)
    ]


# -- loading -------------------------------------------------------------------------------------

_RETRIES = 4


async def _call(
    client: httpx.AsyncClient, method: str, url: str, *, expected: tuple[int, ...] = (), **kwargs: Any
) -> httpx.Response:
    # Failures where the request did not run (no connection) or may have (503) are retried: every call
    # carries an Idempotency-Key, so a retry of one that did run replays its response.
    for attempt in range(_RETRIES):
        try:
            response = await client.request(method, url, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            if attempt == _RETRIES - 1:
                raise
        else:
            if response.status_code != 503 or attempt == _RETRIES - 1:
                if response.is_error and response.status_code not in expected:
                    raise DemoLoadError(f"{method} {url} answered {response.status_code}: {response.text[:500]}")
                return response
        await asyncio.sleep(0.2 * 2**attempt)
    raise AssertionError("unreachable")


async def configure_demo(client: httpx.AsyncClient, admin_token: str) -> int:
    """Give the demo organisation ``demo_configuration()``; returns its version (unchanged when it was
    the same already: intake then changes nothing)."""
    auth = {"Authorization": f"Bearer {admin_token}"}
    current = await _call(client, "GET", "/configuration", headers=auth, expected=(404,))
    if current.status_code == 200:
        auth["If-Match"] = current.headers["etag"]
    response = await _call(client, "PUT", "/configuration", json=demo_configuration(), headers=auth)
    return int(response.json()["version"])


async def _load_one(client: httpx.AsyncClient, participant: DemoParticipant, summary: DemoSummary) -> None:
    response = await _call(
        client, "POST", "/participants", json=participant.body, headers={"Idempotency-Key": participant.key}
    )
    registered = response.json()
    if response.headers.get("Idempotent-Replayed") == "true":
        summary.existing += 1
    else:
        summary.created += 1
    participant_id = registered["id"]
    summary.participant_ids.append(participant_id)
    # Every step has its own Idempotency-Key: a load after an interrupted one catches up on what that one
    # did not get to, and what it did is replayed, never repeated.
    if participant.interview is not None:
        await _call(
            client,
            "POST",
            f"/participants/{participant_id}/interviews",
            json=participant.interview,
            headers={"Idempotency-Key": f"{participant.key}-interview"},
        )
        summary.interviewed += 1
    if participant.withdrawal is not None:
        await _call(
            client,
            "POST",
            f"/participants/{participant_id}/withdraw",
            json=participant.withdrawal,
            headers={"Idempotency-Key": f"{participant.key}-withdrawal"},
        )
        summary.withdrawn += 1


async def load_demo(
    base_url: str,
    token: str,
    *,
    newcomers: int = NEWCOMERS,
    established: int = ESTABLISHED,
    seed: int = SEED,
    concurrency: int = 8,
    timeout: float = 30.0,
    admin_token: str | None = None,
) -> DemoSummary:
    """Configure the demo organisation with ``admin_token`` (default ``token``, which must then be an
    admin's), then register the demo programme at the intake API ``base_url`` with a writer ``token``
    (admin or coordinator of the demo organisation). Safe to run again: nothing is registered twice."""
    programme = demo_programme(newcomers=newcomers, established=established, seed=seed)
    summary = DemoSummary(newcomers=newcomers, established=established)
    started = time.monotonic()
    limit = asyncio.Semaphore(concurrency)

    async def one(participant: DemoParticipant) -> None:
        async with limit:
            await _load_one(client, participant, summary)

    # trust_env=False: an HTTP(S)_PROXY in the environment must not capture calls to 127.0.0.1.
    async with httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
        trust_env=False,
        limits=httpx.Limits(max_connections=concurrency),
    ) as client:
        await configure_demo(client, admin_token or token)
        tasks = [asyncio.create_task(one(p)) for p in programme]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
    summary.seconds = time.monotonic() - started
    return summary
