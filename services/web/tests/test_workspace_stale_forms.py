"""Two people at once, on the whole system over HTTP: a settings form read before another admin's save is
refused on the page in words ("changed by someone else") and overwrites nothing; campaign sign-ups counted
from several phones at the same moment all count (the counter's 412 is retried on the table as it is then)."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from tests.kit import ServiceStarter, eventually

from .stack import csrf_of, workspace_stack

PROGRAMME = "sprakvan"
SETTINGS = "/workspace/settings/matching"
CAMPAIGN = "cake-party-city-hall-2019"


def _settings_form(page: str, **changes: object) -> dict[str, object]:
    fields: dict[str, object] = {
        f"weights-{k}": v for k, v in {"languages": 25, "interests": 20, "district": 20}.items()
    }
    fields |= {f"weights-{k}": v for k, v in {"availability": 15, "age": 5, "pair": 40, "waiting": 30}.items()}
    fields |= {"max_wait_days": 180, "follow_up_days": "35, 182", "candidates_per_newcomer": 30}
    fields |= {"eligibility": "interviewed", "language_preference": "shared_language"}
    version = re.search(r'name="version" value="(\d*)"', page).group(1)
    return {"csrf_token": csrf_of(page), "programme": PROGRAMME, "version": version, **fields, **changes}


async def test_a_stale_settings_form_is_refused_in_words_and_overwrites_nothing(start_service: ServiceStarter) -> None:
    async with workspace_stack(start_service) as stack:

        async def known() -> bool:
            return (await stack.matching.client.get(f"/programmes/{PROGRAMME}/settings")).status_code == 200

        await eventually(known)
        async with stack.user("admin") as first, stack.user("admin") as second:
            page_of_first = (await first.get(f"{SETTINGS}?programme={PROGRAMME}&lang=en")).text
            page_of_second = (await second.get(f"{SETTINGS}?programme={PROGRAMME}&lang=en")).text
            saved = await first.post(f"{SETTINGS}?lang=en", data=_settings_form(page_of_first, eligibility="all"))
            assert saved.status_code == 303, saved.text
            after_first = (await stack.matching.client.get(f"/programmes/{PROGRAMME}/settings")).json()
            assert after_first["eligibility"] == "all"

            stale = await second.post(f"{SETTINGS}?lang=en", data=_settings_form(page_of_second, max_wait_days=90))
            assert stale.status_code == 412, stale.text
            assert "Not saved: changed by someone else" in stale.text
            assert 'value="90"' in stale.text  # the second admin's form is kept, to save again on purpose
            assert (await stack.matching.client.get(f"/programmes/{PROGRAMME}/settings")).json() == after_first
            # The page now carries the version there: saving it again is a deliberate overwrite, and works.
            again = await second.post(f"{SETTINGS}?lang=en", data=_settings_form(stale.text, max_wait_days=90))
            assert again.status_code == 303, again.text
            now = (await stack.matching.client.get(f"/programmes/{PROGRAMME}/settings")).json()
            assert now["max_wait_days"] == 90


async def test_campaign_sign_ups_counted_from_three_phones_at_once_all_count(start_service: ServiceStarter) -> None:
    async with workspace_stack(start_service) as stack:
        events = stack.events.client

        async def learnt() -> bool:
            found = "SELECT campaigns FROM organisations WHERE organisation_id = 'linkoping'"
            return CAMPAIGN in (await stack.events.pool.fetchval(found) or [])

        await eventually(learnt)
        day = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
        stand = {
            "title": "Monter på Stadsfesten",
            "type_code": "fair_stand",
            "district": "innerstaden",
            "campaign": CAMPAIGN,
            "starts_at": f"{day}T11:00:00",
            "ends_at": f"{day}T15:00:00",
        }
        made = await events.post("/activities", json=stand)
        assert made.status_code == 201, made.text
        occurrence = made.json()["occurrences"][0]["id"]
        door = f"/workspace/activities/occurrences/{occurrence}/check-in"
        version_before = (await events.get(f"/occurrences/{occurrence}/attendance")).json()["counts_version"]

        async with stack.user("coordinator") as phone:
            token = csrf_of((await phone.get(door)).text)
            # Hold the occurrence's lock until the phones have read the table and wait to write it (two at
            # least, on a loaded machine the third may come later): the first write wins and the others get
            # 412s, which the counter must retry on the table as it is then.
            holder = await asyncpg.connect(stack.events.settings.database_url)
            try:
                async with holder.transaction():
                    await holder.execute("SELECT 1 FROM occurrences WHERE id = $1 FOR UPDATE", uuid.UUID(occurrence))
                    steps = [
                        asyncio.create_task(
                            phone.post(
                                f"{door}/campaigns", data={"csrf_token": token, "campaign": CAMPAIGN, "step": "1"}
                            )
                        )
                        for _ in range(3)
                    ]

                    async def waiting_to_write() -> bool:
                        await holder.execute("SELECT pg_stat_clear_snapshot()")  # else read once per transaction
                        waiting = await holder.fetchval(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                            " AND wait_event_type = 'Lock' AND query LIKE '%occurrences%'"
                        )
                        return waiting >= 2

                    await eventually(waiting_to_write, timeout=2.5, interval=0.02)  # within the 3 s lock timeout
            finally:
                await holder.close()
            answers = await asyncio.gather(*steps)
        assert [a.status_code for a in answers] == [303, 303, 303], [a.text[-500:] for a in answers]
        sheet = (await events.get(f"/occurrences/{occurrence}/attendance")).json()
        assert sheet["campaign_signups"] == [{"campaign": CAMPAIGN, "count": 3}]
        assert sheet["counts_version"] == version_before + 3  # three writes, none lost, none doubled
