"""The printed review's words in Swedish and English, and labels for the codes every organisation shares.
Codes an organisation defines itself (districts, campaigns, programmes) take their labels from its
configuration (``organisation.configured``)."""

from __future__ import annotations

from typing import Any

LANGUAGES = ("sv", "en")

TEXT: dict[str, dict[str, str]] = {
    "title": {"sv": "Partssamtal", "en": "Partnership review"},
    "all_programmes": {"sv": "alla program", "en": "all programmes"},
    "programme": {"sv": "Program", "en": "Programme"},
    "period": {"sv": "Period", "en": "Period"},
    "compared_with": {"sv": "jämfört med", "en": "compared with"},
    "partners": {"sv": "Parter", "en": "Partners"},
    "validity": {"sv": "Partnerskapets giltighet", "en": "Validity of the partnership"},
    "purpose": {"sv": "Syfte", "en": "Purpose"},
    "background": {"sv": "Bakgrund", "en": "Background"},
    "results": {"sv": "Resultat", "en": "Results"},
    "outcome": {"sv": "Utfall", "en": "Outcome"},
    "registered_newcomers": {"sv": "Antal anmälda nyanlända", "en": "Registered newcomers"},
    "registered_established": {"sv": "Antal anmälda etablerade", "en": "Registered established residents"},
    "new_pairs": {"sv": "Antal nya språkvänspar", "en": "New language-friend pairs"},
    "active_pairs": {"sv": "Totalt antal aktiva språkvänspar", "en": "Active language-friend pairs in total"},
    "registrations": {"sv": "Anmälningar", "en": "Registrations"},
    "pairs_heading": {"sv": "Språkvänspar", "en": "Language-friend pairs"},
    "waiting_heading": {"sv": "Väntelista vid periodens slut", "en": "Waiting list at the end of the period"},
    "activities_heading": {"sv": "Aktiviteter", "en": "Activities"},
    "weekly_districts": {
        "sv": "Stadsdelar med veckovis aktivitet",
        "en": "Districts with a weekly activity",
    },
    "goals_heading": {"sv": "Mål", "en": "Goals"},
    "future": {"sv": "Framtid", "en": "Future"},
    "economy_heading": {"sv": "Ekonomi", "en": "Economy"},
    "summary": {"sv": "Sammanfattning", "en": "Summary"},
    "definitions_heading": {"sv": "Definitioner", "en": "Definitions"},
    "chart_registrations": {"sv": "Anmälda per månad och kön", "en": "Registrations by month and gender"},
    "chart_pairs": {"sv": "Språkvänspar över tid", "en": "Pairs over time"},
    "chart_attendance": {"sv": "Deltagande per stadsdel", "en": "Attendance by district"},
    "women": {"sv": "kvinnor", "en": "women"},
    "men": {"sv": "män", "en": "men"},
    "pieces": {"sv": "st", "en": ""},
    "none": {"sv": "inga", "en": "none"},
    "yearly_total": {"sv": "Totalt per år", "en": "Total per year"},
    "period_total": {"sv": "Totalt för perioden", "en": "Total for the period"},
    "cost_per_active_pair": {"sv": "Kostnad per aktivt par", "en": "Cost per active pair"},
    "cost_per_participant": {"sv": "Kostnad per anmäld deltagare", "en": "Cost per registered participant"},
    "per_year": {"sv": "kr/år", "en": "SEK/year"},
    "no_partnership": {
        "sv": "Inget partnerskap är registrerat för perioden.",
        "en": "No partnership is recorded for this period.",
    },
    # column headings
    "current": {"sv": "Perioden", "en": "Period"},
    "previous": {"sv": "Året innan", "en": "Year before"},
    "role": {"sv": "Grupp", "en": "Group"},
    "gender": {"sv": "Kön", "en": "Gender"},
    "district": {"sv": "Stadsdel", "en": "District"},
    "referral_source": {"sv": "Kanal", "en": "Referral source"},
    "campaign": {"sv": "Kampanj", "en": "Campaign"},
    "month": {"sv": "Månad", "en": "Month"},
    "figure": {"sv": "Mått", "en": "Figure"},
    "end_reason": {"sv": "Orsak", "en": "Reason"},
    "origin": {"sv": "Matchning", "en": "Matching"},
    "activity_type": {"sv": "Aktivitet", "en": "Activity"},
    "activities": {"sv": "Aktiviteter", "en": "Activities"},
    "sessions": {"sv": "Tillfällen", "en": "Sessions"},
    "signups": {"sv": "Anmälningar", "en": "Sign-ups"},
    "attended_registered": {"sv": "Anmälda som kom", "en": "Signed up and came"},
    "attended_walk_in": {"sv": "Drop-in", "en": "Walk-ins"},
    "attendance": {"sv": "Deltagande", "en": "Attendance"},
    "mean_attendance_per_session": {"sv": "Snitt per tillfälle", "en": "Mean per session"},
    "sessions_per_week": {"sv": "Tillfällen per vecka", "en": "Sessions per week"},
    "weekly": {"sv": "Veckovis (1 = ja)", "en": "Weekly (1 = yes)"},
    "previous_attendance": {"sv": "Deltagande året innan", "en": "Attendance the year before"},
    "active_at_month_end": {"sv": "Aktiva vid månadens slut", "en": "Active at month end"},
    "new": {"sv": "Nya", "en": "New"},
    "waiting": {"sv": "Väntande nyanlända", "en": "Newcomers waiting"},
    "free_places": {"sv": "Lediga platser hos etablerade", "en": "Free places with volunteers"},
    "volunteers_missing": {"sv": "Saknade volontärer", "en": "Volunteers missing"},
    "partner": {"sv": "Part", "en": "Partner"},
    "covers": {"sv": "Avser", "en": "Covers"},
    "yearly_contribution_sek": {"sv": "Bidrag per år (kr)", "en": "Yearly contribution (SEK)"},
    "contribution_for_period_sek": {"sv": "Bidrag för perioden (kr)", "en": "Contribution for the period (SEK)"},
    "status": {"sv": "Status", "en": "Status"},
    "goal": {"sv": "Mål", "en": "Goal"},
}

# Table titles, by table name.
TABLE_TITLES: dict[str, dict[str, str]] = {
    "registrations_by_gender": {"sv": "Anmälda efter grupp och kön", "en": "Registered by group and gender"},
    "registrations_by_district": {"sv": "Anmälda efter stadsdel", "en": "Registered by district"},
    "registrations_by_referral_source": {"sv": "Anmälda efter kanal", "en": "Registered by referral source"},
    "registrations_by_campaign": {"sv": "Anmälda efter kampanj", "en": "Registered by campaign"},
    "registrations_by_month": {"sv": "Anmälda per månad", "en": "Registered by month"},
    "pairs": {"sv": "Språkvänspar", "en": "Pairs"},
    "pairs_ended_by_reason": {"sv": "Avslutade par efter orsak", "en": "Ended pairs by reason"},
    "pairs_new_by_origin": {"sv": "Nya par efter matchningssätt", "en": "New pairs by how they were matched"},
    "pairs_over_time": {"sv": "Par per månad", "en": "Pairs by month"},
    "waiting_list_by_district": {"sv": "Väntelista efter stadsdel", "en": "Waiting list by district"},
    "activities_by_type_and_district": {
        "sv": "Aktiviteter efter typ och stadsdel",
        "en": "Activities by type and district",
    },
    "attendance_by_district": {"sv": "Deltagande efter stadsdel", "en": "Attendance by district"},
    "walk_ins_by_role_and_gender": {"sv": "Drop-in efter grupp och kön", "en": "Walk-ins by group and gender"},
    "economy": {"sv": "Ekonomi", "en": "Economy"},
}

CODE_LABELS: dict[str, dict[str, dict[str, str]]] = {
    "role": {
        "newcomer": {"sv": "Nyanlända", "en": "Newcomers"},
        "established": {"sv": "Etablerade", "en": "Established residents"},
    },
    "gender": {
        "woman": {"sv": "Kvinnor", "en": "Women"},
        "man": {"sv": "Män", "en": "Men"},
        "non_binary": {"sv": "Icke-binära", "en": "Non-binary"},
        "undisclosed": {"sv": "Ej angivet", "en": "Not stated"},
    },
    "referral_source": {
        "self": {"sv": "Egen anmälan", "en": "Self"},
        "friend": {"sv": "Vän", "en": "A friend"},
        "municipality": {"sv": "Kommunen", "en": "The municipality"},
        "employment_service": {"sv": "Arbetsmarknadscentrum", "en": "Employment service"},
        "sfi": {"sv": "SFI", "en": "SFI"},
        "red_cross": {"sv": "Röda korset", "en": "Red Cross"},
        "church": {"sv": "Kyrkan", "en": "Church"},
        "womens_association": {"sv": "Kvinnoföreningen", "en": "Women's association"},
        "library": {"sv": "Biblioteket", "en": "Library"},
        "fair": {"sv": "Mässa", "en": "Fair"},
        "campaign": {"sv": "Kampanj", "en": "Campaign"},
        "other": {"sv": "Annat", "en": "Other"},
    },
    "activity_type": {
        "language_cafe": {"sv": "Språkcafé", "en": "Language café"},
        "pop_up_cafe": {"sv": "Pop up-språkcafé", "en": "Pop-up café"},
        "sport": {"sv": "Idrott", "en": "Sport"},
        "walk_and_talk": {"sv": "Walk and talk", "en": "Walk and talk"},
        "guided_tour": {"sv": "Guidad tur", "en": "Guided tour"},
        "gardening": {"sv": "Trädgård", "en": "Gardening"},
        "social": {"sv": "Social aktivitet", "en": "Social evening"},
        "fair_stand": {"sv": "Mässa", "en": "Fair stand"},
        "kickoff": {"sv": "Kickoff", "en": "Kickoff"},
    },
    "end_reason": {
        "moved": {"sv": "Flyttat", "en": "Moved"},
        "completed": {"sv": "Avslutat som planerat", "en": "Completed"},
        "did_not_click": {"sv": "Passade inte ihop", "en": "Did not click"},
        "no_contact": {"sv": "Ingen kontakt", "en": "No contact"},
        "withdrawn": {"sv": "Deltagare avbröt", "en": "A participant withdrew"},
        "erased": {"sv": "Deltagare raderad", "en": "A participant was erased"},
        "other": {"sv": "Annat", "en": "Other"},
    },
    "origin": {
        "proposal": {"sv": "Förslag som samordnare godkänt", "en": "Proposal accepted by a coordinator"},
        "manual": {"sv": "Matchat för hand", "en": "Matched by hand"},
        "group_meetup": {"sv": "Gruppmatchning", "en": "Group matching"},
    },
    "figure": {
        "new": {"sv": "Nya par", "en": "New pairs"},
        "active_in_period": {"sv": "Aktiva par under perioden", "en": "Pairs active in the period"},
        "active_at_end": {"sv": "Aktiva par vid periodens slut", "en": "Pairs active at the end"},
        "ended": {"sv": "Avslutade par", "en": "Pairs ended"},
        "follow_ups_done": {"sv": "Genomförda uppföljningar", "en": "Follow-ups done"},
        "waiting_days_median": {"sv": "Väntetid, median (dagar)", "en": "Waiting time, median (days)"},
        "waiting_days_p90": {"sv": "Väntetid, 90:e percentil (dagar)", "en": "Waiting time, 90th percentile (days)"},
        "waiting_days_measured": {"sv": "Par med känd väntetid", "en": "Pairs with a known waiting time"},
    },
    "status": {
        "met": {"sv": "Uppfyllt", "en": "Met"},
        "not_met": {"sv": "Inte uppfyllt", "en": "Not met"},
        "not_checkable": {
            "sv": "Kan inte bedömas (inget att jämföra med)",
            "en": "Cannot be judged (nothing to compare)",
        },
        "text": {"sv": "Bedöms i samtalet", "en": "Judged in the review"},
    },
    "goal_kind": {
        "more_new_pairs": {"sv": "Fler nya par än året innan", "en": "More new pairs than the year before"},
        "regular_activity_in_district": {
            "sv": "Regelbunden (veckovis) aktivitet i {district}",
            "en": "A regular (weekly) activity in {district}",
        },
        "keep_mean_attendance": {
            "sv": "Bibehållet deltagande per tillfälle",
            "en": "Attendance per session kept",
        },
        "text": {"sv": "", "en": ""},
    },
}

# Organisation-defined code lists: the key in the review's "labels".
_CONFIGURED = {"district": "districts", "campaign": "campaigns", "programme": "programmes"}
NONE_CODE = "-"
_NONE_LABEL = {"sv": "(uppgift saknas)", "en": "(not stated)"}


def text(key: str, lang: str) -> str:
    return TEXT[key][lang]


def label(kind: str, code: str | None, lang: str, configured: dict[str, Any]) -> str:
    """A code's label: the organisation's own for its code lists, ours for the shared ones, else the code."""
    if code is None or code == NONE_CODE:
        return _NONE_LABEL[lang]
    if kind in _CONFIGURED:
        found = configured.get(_CONFIGURED[kind], {}).get(code, {})
        return found.get(lang) or found.get("sv") or code
    if kind == "referral_source" and code in configured.get("referral_sources", {}):
        found = configured["referral_sources"][code]
        return found.get(lang) or found.get("sv") or code
    return CODE_LABELS.get(kind, {}).get(code, {}).get(lang, code)


def column_heading(key: str, lang: str) -> str:
    if key in TEXT:
        return TEXT[key][lang]
    role, _, gender = key.partition("_")  # "newcomer_woman": a role and a gender
    if role in CODE_LABELS["role"] and gender in CODE_LABELS["gender"]:
        return f"{CODE_LABELS['role'][role][lang]}: {CODE_LABELS['gender'][gender][lang].lower()}"
    return key
