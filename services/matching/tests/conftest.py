"""Matching's test fixtures on top of the test kit: the service (quick consumer retries) and intake's
stand-in publisher (``matching_events.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest

from services.matching.tests.matching_events import Intake
from sprakvan_matching.service import SERVICE
from sprakvan_shared.contracts.subjects import Namespace
from tests.kit import RunningService, ServiceStarter


@pytest.fixture
async def matching(start_service: ServiceStarter) -> AsyncIterator[RunningService]:
    async with start_service(SERVICE, consumer_backoff_seconds=(0.05, 0.1), consumer_max_deliveries=3) as svc:
        yield svc


@pytest.fixture
async def intake(nc: nats.NATS, ns: Namespace) -> Intake:
    return Intake(nc, ns)
