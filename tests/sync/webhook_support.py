"""Shared pieces of the webhook tests: a real local receiver that verifies every signature, a
recorder for what is handed to the broker, and short-hands for writing feed events.

Imported by the test_webhooks_* modules (fixtures included), not a conftest: the feed's tests
keep their own setup.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone
from pytest_httpserver import HTTPServer
from standardwebhooks import Webhook
from werkzeug import Request, Response

from brands.models import Brand
from sync.delivery import endpoints, sending
from sync.delivery import fanout as fanout_module
from sync.models import Attempt, Delivery, Endpoint, Event, EventType
from sync.outbox.events import event_record
from tests.actors import TEST_ACTOR


@dataclass
class Received:
    body: str
    headers: dict[str, str]
    payload: Any  # what Webhook.verify returned


@dataclass
class Receiver:
    """A local HTTP server standing in for a brand's receiver. Every request must verify with
    `secrets` (a list, so a test can add the next secret after a rotation)."""

    server: HTTPServer
    secrets: list[str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    # Answers in order; the last one repeats. Each: (status, headers, body) or a callable.
    answers: list[Any] = field(default_factory=lambda: [(200, {}, "ok")])
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        return self.server.url_for(path)

    def handle(self, request: Request) -> Response:
        body = request.get_data(as_text=True)
        headers = dict(request.headers)
        with self.lock:
            verified: Any = None
            errors = []
            for secret in self.secrets:
                try:
                    verified = Webhook(secret).verify(body, headers)
                    break
                except Exception as exc:  # recorded: the test fails unless another secret verifies
                    errors.append(f"{type(exc).__name__}: {exc}")
            else:
                self.failures.append("; ".join(errors) or "no secret to verify with")
            self.received.append(Received(body=body, headers=headers, payload=verified))
            answer = self.answers[min(len(self.received) - 1, len(self.answers) - 1)]
        if callable(answer):
            return answer(request)
        status, extra, text = answer
        return Response(text, status=status, headers=extra)

    def verify_all(self, *secrets: str) -> None:
        """Every request received verifies with each of `secrets` (all of them, not just one)."""
        for item in self.received:
            for secret in secrets:
                Webhook(secret).verify(item.body, item.headers)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    box = Receiver(server=server)
    server.expect_request("/hook").respond_with_handler(box.handle)
    sending.http_client_reset()  # no kept-alive connection from another test's server
    yield box
    sending.http_client_reset()
    server.clear()
    if server.is_running():
        server.stop()
    assert not box.failures, box.failures


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...], float | None]]:
    """What is handed to the broker, as (task name, args, countdown); nothing reaches a broker."""
    from sync import tasks

    calls: list[tuple[str, tuple[Any, ...], float | None]] = []
    for name in ("endpoint_fanout", "delivery_send", "deliveries_sweep", "events_prune"):
        task = getattr(tasks, name)

        def record(*args: Any, _name: str = name, **kwargs: Any) -> None:
            calls.append((_name, tuple(kwargs.get("args") or ()), kwargs.get("countdown")))

        monkeypatch.setattr(task, "apply_async", record)
    return calls


def write_event(
    brand: Brand,
    contact_ref: int,
    sequence: int,
    type: EventType = EventType.CONSENT_WITHDRAWN,
    **data: Any,
) -> Event:
    """One outbox event in its own (committed on PostgreSQL) transaction, as a service writes it."""
    with transaction.atomic():
        return event_record(
            brand=brand,
            type=type,
            contact_ref=contact_ref,
            subject=f"cust-{contact_ref}",
            sequence=sequence,
            data={"purpose": "email-marketing", **data},
            occurred_at=timezone.now(),
        )


def make_endpoint(brand: Brand, url: str, **kwargs: Any) -> Endpoint:
    return endpoints.endpoint_create(actor=TEST_ACTOR, brand=brand, url=url, **kwargs)


def deliveries(endpoint: Endpoint) -> list[Delivery]:
    return list(Delivery.objects.filter(endpoint=endpoint).order_by("id"))


def send(delivery: Delivery) -> Attempt | None:
    """Run the delivery task; the attempt it made, or None when it made none."""
    from sync import tasks

    attempts = Attempt.objects.filter(delivery_id=delivery.pk).order_by("-id")
    before = attempts.values_list("id", flat=True).first()
    tasks.delivery_send(delivery.pk)
    attempt = attempts.first()
    return attempt if attempt is not None and attempt.pk != before else None


def settle() -> None:
    """Wait until the feed's horizon has passed every event written so far (a transaction left
    open anywhere on the server holds it back; see test_feed.settle)."""
    deadline = time.monotonic() + 30
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint > coalesce(max(txid), 0) "
                "FROM sync_event"
            )
            if cursor.fetchone()[0]:
                return
        assert time.monotonic() < deadline, "an open transaction on the server holds the horizon back"
        time.sleep(0.02)


def fanout(endpoint: Endpoint, *, send: bool = False) -> int:
    """Run the fan-out task once every event written so far is in the feed; the deliveries made.

    The task then sends a batch of the endpoint's ready deliveries itself. Most tests drive each
    delivery with send() and leave that part out (send=False): the deliveries stay pending and
    nothing is handed to the broker. send=True runs the task as a worker does."""
    from unittest import mock

    from sync import tasks

    settle()
    if send:
        return int(tasks.endpoint_fanout(endpoint.pk))
    with mock.patch.object(fanout_module, "_endpoint_batch_send", return_value=None):
        return int(tasks.endpoint_fanout(endpoint.pk))


def sent_ids(published: list[tuple[str, tuple[Any, ...], float | None]]) -> list[int]:
    return [args[0] for name, args, _ in published if name == "delivery_send"]


Factory = Callable[..., Any]
