"""A backfill of 10,000 contacts with real processes: PostgreSQL, a redis-server of the test's
own, Celery workers started as separate processes, and the Klaviyo fake on a local port. The
first worker is killed (SIGKILL) halfway; once its lease has run out, the sweep beat runs hands the
run to a second worker, which finishes it from the cursor. Klaviyo then holds exactly the 10,000,
and only the batch in flight at the kill was sent twice."""

from __future__ import annotations

from collections import Counter

import pytest
from cryptography.fernet import Fernet

from sync.delivery.connectors.backfill import backfills_resume
from sync.models import BackfillRun, Connector
from tests.connectors.bulk import TOPIC, contacts_subscribed, news_topic
from tests.connectors.test_klaviyo_connector import KEY, admin_api, fake
from tests.sync.test_webhooks_faults import WAIT, broker, workers
from tests.sync.worker_support import wait_until

__all__ = ["admin_api", "broker", "fake", "workers"]

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

COUNT = 10_000
LEASE = 3  # seconds: the dead worker's run is resumed this long after its last batch
CREATE = "/api/profile-subscription-bulk-create-jobs"


def test_a_backfill_of_10000_resumes_after_its_worker_is_killed_halfway(
    brand, admin_api, fake, workers, settings
):
    key = Fernet.generate_key().decode()
    settings.CONNECTOR_KEYS = [key]
    settings.CONNECTOR_RUN_LEASE_SECONDS = LEASE
    env = {
        "CONNECTOR_KEYS": key,
        "WEBHOOK_ALLOW_PRIVATE": "true",
        "CONNECTOR_RUN_LEASE_SECONDS": str(LEASE),
        "CONNECTOR_BACKFILL_CHUNK_SECONDS": "2",
    }
    first = workers(**env)
    news_topic(brand=brand)
    contacts_subscribed(brand=brand, count=COUNT)
    reply = admin_api.post(
        "/api/v1/connectors",
        {
            "vendor": "klaviyo",
            "name": "Main account",
            "credentials": {"api_key": KEY},
            "mapping": {"lists": [{"list": "LstNews", "topic": TOPIC}]},
            "api_base_url": fake.base_url,
        },
        format="json",
    )
    assert reply.status_code == 201, reply.content
    connector = Connector.objects.get(public_id=reply.json()["id"])
    fake.latency = 0.03  # a vendor a little way off: the kill lands mid-run
    fake.steady_per_minute = 100_000
    path = f"/api/v1/connectors/{connector.public_id}/backfill"

    started = admin_api.post(path)
    assert started.status_code == 202, started.content

    def halfway() -> bool:
        return BackfillRun.objects.get().done >= COUNT // 2

    wait_until(halfway, what="half the contacts are pushed", timeout=WAIT, worker=first)
    first.kill()
    progress = admin_api.get(path).json()
    assert progress["status"] == "running"
    assert COUNT // 2 <= progress["done"] < COUNT
    assert progress["eta"] is not None
    killed_at = progress["done"]

    second = workers(**env)

    def finished() -> bool:
        backfills_resume()  # beat's connector-runs-resume
        return BackfillRun.objects.get().status != "running"

    wait_until(finished, what="the second worker finishes the run", timeout=WAIT, worker=second)
    done = admin_api.get(path).json()
    assert (done["status"], done["total"], done["done"], done["failed"]) == ("succeeded", COUNT, COUNT, 0)
    assert fake.subscribed("LstNews") == {f"p{n}@example.com" for n in range(COUNT)}
    sent = Counter(
        row["attributes"]["email"]
        for request in fake.requests
        if request["path"] == CREATE
        for row in request["body"]["data"]["attributes"]["profiles"]["data"]
    )
    assert len(sent) == COUNT
    twice = [email for email, times in sent.items() if times > 1]
    assert len(twice) <= 100  # at most the batch in flight at the kill
    assert set(sent.values()) <= {1, 2}
    # The twice-sent are the batch right after the cursor the killed worker left.
    assert all(int(email[1:].split("@")[0]) >= killed_at for email in twice)
