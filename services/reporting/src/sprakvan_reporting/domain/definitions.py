"""What every figure in the review means, in Swedish and English. The report prints these beside the
figures; they are the specification of the queries in ``adapters/figures.py``."""

from __future__ import annotations

from .model import WEEKLY_SHARE

_WEEKLY_PERCENT = int(WEEKLY_SHARE * 100)

DEFINITIONS: dict[str, dict[str, str]] = {
    "period": {
        "sv": "Perioden räknas i hela dagar, första och sista dagen inräknade, i organisationens tidszon. "
        "Jämförelsen gäller samma datum ett år tidigare.",
        "en": "The period is counted in whole days, first and last day included, in the organisation's time "
        "zone. The comparison is the same dates a year earlier.",
    },
    "registered": {
        "sv": "Anmälda: personer vars anmälan registrerades under perioden, också de som senare har avbrutit "
        "eller raderats (en raderad person räknas genom en anonym statistikpost).",
        "en": "Registered: people whose registration was recorded in the period, including those who later "
        "withdrew or were erased (an erased person counts through an anonymous statistical record).",
    },
    "referral": {
        "sv": "Kanal och kampanj: vad den anmälda uppgav, eller vem som anvisade, vid anmälan.",
        "en": "Referral source and campaign: what the registration named as how the person came, or who referred them.",
    },
    "new_pairs": {
        "sv": "Nya par: par som bildades (matchades) under perioden.",
        "en": "New pairs: pairs formed (matched) in the period.",
    },
    "active_pairs": {
        "sv": "Aktiva par under perioden: par som var aktiva någon dag under perioden. Ett par är aktivt från "
        "matchningssamtalet (eller gruppträffen där det bildades) till den dag det avslutas; ett matchat par "
        "som ännu inte har haft sitt samtal är nytt men inte aktivt. Aktiva vid periodens slut: aktiva den "
        "sista dagen.",
        "en": "Active pairs in the period: pairs active on at least one day of it. A pair is active from its "
        "matching conversation (or the group meetup where it formed itself) until the day it ends; a pair "
        "formed but not yet introduced is new, not active. Active at the end: active on the last day.",
    },
    "ended_pairs": {
        "sv": "Avslutade par: par som avslutades under perioden, efter orsak.",
        "en": "Ended pairs: pairs that ended in the period, by reason.",
    },
    "follow_ups": {
        "sv": "Uppföljningar: genomförda uppföljningssamtal med par, daterade inom perioden.",
        "en": "Follow-ups: follow-up conversations with pairs held on a day in the period.",
    },
    "waiting_time": {
        "sv": "Väntetid: för varje par som bildades under perioden, antal dagar från nyanländas anmälan till "
        "matchningen. Median och 90:e percentil (det minsta antal dagar som minst hälften respektive 90 % "
        "av paren väntade högst). Par vars nyanlända har raderats saknar anmälningsdatum och ingår inte.",
        "en": "Waiting time: for each pair formed in the period, the days from the newcomer's registration to "
        "the pair's formation. Median and 90th percentile (the fewest days within which at least half, "
        "respectively 90 %, of the pairs were formed). Pairs whose newcomer was erased have no registration "
        "date on record and are left out.",
    },
    "waiting_list": {
        "sv": "Väntelista vid periodens slut: nyanlända som var anmälda, inte hade avbrutit och inte ingick i "
        "något aktivt par den sista dagen. Lediga platser: etablerades kapacitet (1-3 nyanlända) minus deras "
        "aktiva par. Saknade volontärer: väntande minus lediga platser i samma stadsdel, om positivt. "
        "Raderade personer ingår inte.",
        "en": "Waiting list at the end of the period: newcomers registered, not withdrawn and in no active pair "
        "on its last day. Free places: established residents' capacity (1-3 newcomers) less their active "
        "pairs. Volunteers missing: waiting newcomers less free places in the same district, when positive. "
        "Erased people are not included.",
    },
    "sessions": {
        "sv": "Tillfällen: genomförda (inte inställda) tillfällen av en aktivitet under perioden. Aktiviteter: "
        "aktiviteter med minst ett genomfört tillfälle. Stadsdel: tillfällets, annars aktivitetens.",
        "en": "Sessions: sessions of an activity held (not cancelled) in the period. Activities: activities "
        "with at least one session held. District: the session's, else the activity's.",
    },
    "attendance": {
        "sv": "Deltagande: anmälda som kom plus spontanbesökare (drop-in), räknat per tillfälle; en person som "
        "kom tio gånger räknas tio gånger. Snitt per tillfälle: deltagande delat med antal tillfällen.",
        "en": "Attendance: signed-up participants who came plus walk-ins, counted per session; a person who came "
        "ten times counts ten times. Mean per session: attendance divided by the number of sessions.",
    },
    "weekly": {
        "sv": f"Veckovis aktivitet i en stadsdel: minst ett tillfälle hölls där under minst {_WEEKLY_PERCENT} % "
        "av periodens kalenderveckor (måndag-söndag).",
        "en": f"Weekly activity in a district: at least one session was held there in at least {_WEEKLY_PERCENT} % "
        "of the period's calendar weeks (Monday-Sunday).",
    },
    "goals": {
        "sv": "Mål: 'fler nya par' är uppfyllt när perioden har fler nya par än samma period året innan; "
        "'regelbunden aktivitet' när stadsdelen har veckovis aktivitet; 'bibehållet deltagande' när snittet "
        "per tillfälle är minst lika högt som året innan. Mål i fritext visas som de skrevs.",
        "en": "Goals: 'more new pairs' is met when the period has more new pairs than the same period a year "
        "earlier; 'regular activity' when the district has a weekly activity; 'keep attendance' when the mean "
        "per session is at least last year's. Free-text goals are shown as written.",
    },
    "economy": {
        "sv": "Ekonomi: varje partners årliga bidrag, och bidraget för perioden (årsbeloppet gånger andelen av "
        "årets dagar som ligger både i perioden och i partnerskapets giltighetstid). Kostnad per aktivt par: "
        "periodens bidrag delat med aktiva par under perioden; per deltagare: delat med periodens anmälda.",
        "en": "Economy: each partner's yearly contribution, and the contribution for the period (the yearly "
        "amount times the share of the year's days that lie both in the period and in the partnership's "
        "validity). Cost per active pair: the period's contributions divided by the pairs active in the "
        "period; per participant: divided by the people registered in the period.",
    },
}
