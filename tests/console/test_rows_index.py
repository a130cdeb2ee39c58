"""The rows page of the ledger's events reads an index, not the ledger: its query walks
consentevent_brand_recorded (brand, recorded_at, id) backwards and stops after a page, whatever
the filters, with no sort of the brand's whole ledger.

The tables here hold a few rows, and on so few rows PostgreSQL rightly prefers reading the
table to any index; `enable_seqscan = off` takes that choice away, so the plan shows which
index the planner finds for the query's WHERE and ORDER BY. Without the index it falls back to
the brand's foreign-key index and sorts every event of the brand (the scan this test guards
against)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from console.rows import EventPosition, consent_events_list
from tests.console.conftest import decide

pytestmark = pytest.mark.django_db(transaction=True)

DAY = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def ledger(brand, purpose, contacts):
    contacts(3)
    with time_machine.travel(DAY):
        for n in range(1, 4):
            decide(brand, f"cust-{n}", purpose, "granted")
            decide(brand, f"cust-{n}", purpose, "withdrawn", method="one_click", recorded_by="one-click")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE consent_consentevent")


def plan_of(sql: str) -> str:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"decision": "withdrawn"},
        {"source": "one_click"},
        {"after": EventPosition.of(DAY + timedelta(days=1), UUID(int=0))},
    ],
    ids=["period", "decision", "source", "next-page"],
)
def test_the_events_page_walks_the_brand_recorded_index_without_a_sort(brand, purpose, ledger, filters):
    with CaptureQueriesContext(connection) as queries:
        page = consent_events_list(
            brand=brand, start=date(2026, 11, 1), end=date(2026, 11, 30), purpose_id=purpose.pk, **filters
        )
    assert page.rows  # the query is the one the page runs, with rows to find
    assert len(queries.captured_queries) == 1
    plan = plan_of(queries.captured_queries[0]["sql"])

    assert "Index Scan Backward using consentevent_brand_recorded on consent_consentevent" in plan, plan
    assert "Sort" not in plan, plan
    assert "Limit" in plan.splitlines()[0], plan
