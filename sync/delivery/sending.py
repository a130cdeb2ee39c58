"""One attempt: sign the delivery, POST it over the process's pooled client (behind the SSRF
guard, sync.delivery.ssrf) with no database transaction open, and say what came of it."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings
from django.utils import timezone
from standardwebhooks import Webhook

from sync.delivery.retries import retry_after_seconds
from sync.delivery.ssrf import AddressRefused, GuardedBackend, url_normalise
from sync.models import Attempt, Delivery, Endpoint

logger = logging.getLogger(__name__)

EXCERPT_CHARS = 1024
# Read this much of an answer at most: enough to keep the connection for the next delivery.
DRAIN_BYTES = 64 * 1024
USER_AGENT = "Candor-Webhooks/1.0"


_client: httpx.Client | None = None
_client_pid = 0


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with the SSRF guard as its network backend (see sync.delivery.ssrf). No proxy:
    a proxy would resolve the host itself, out of the guard's sight."""

    def __init__(self, *, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(),
        )


def http_client() -> httpx.Client:
    """The process's client: one pool of kept-alive connections, reused by every delivery
    (made afresh in a forked worker, which must not share the parent's sockets)."""
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=20, keepalive_expiry=30)
        _client = httpx.Client(
            transport=GuardedTransport(limits=limits),
            timeout=httpx.Timeout(settings.WEBHOOK_TIMEOUT_SECONDS),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT},
        )
        _client_pid = os.getpid()
    return _client


def http_client_reset() -> None:
    """Close the process's client (its kept-alive connections); the next delivery opens a new one."""
    global _client
    if _client is not None:
        _client.close()
    _client = None


def signature(*, endpoint: Endpoint, msg_id: str, at: datetime, body: str) -> str:
    """The webhook-signature header: `v1,…` with the secret, and during a rotation a second
    entry with the previous one, so receivers can switch secrets at their own pace."""
    entries = [Webhook(endpoint.secret).sign(msg_id, at, body)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > at:
        entries.append(Webhook(endpoint.previous_secret).sign(msg_id, at, body))
    return " ".join(entries)


@dataclass
class Outcome:
    started_at: datetime
    finished_at: datetime
    duration_ms: int
    outcome: str
    status_code: int | None = None
    excerpt: str = ""
    error: str = ""
    retry_after: float | None = None


def post(*, endpoint: Endpoint, delivery: Delivery) -> Outcome:
    """One HTTP attempt. Never raises: the receiver's faults, a URL the client cannot use and
    any error of our own become the outcome, so every attempt is recorded and retried with
    backoff (an exception would give the delivery back at once, to fail again without end)."""
    at = timezone.now()
    start = time.monotonic()

    def done(**fields: Any) -> Outcome:
        seconds = time.monotonic() - start
        return Outcome(
            started_at=at,
            finished_at=at + timedelta(seconds=seconds),
            duration_ms=int(seconds * 1000),
            **fields,
        )

    try:
        return _post(endpoint=endpoint, delivery=delivery, at=at, start=start, done=done)
    except Exception as exc:
        # Our fault, not the receiver's: say so to the operators (no URL: it may hold a token).
        kind = type(exc).__name__
        logger.warning("webhook delivery %s failed before an answer (%s)", delivery.public_id, kind)
        return done(outcome=Attempt.Outcome.FAILED, error=f"Not sent: {type(exc).__name__}: {exc}"[:300])


def _post(
    *, endpoint: Endpoint, delivery: Delivery, at: datetime, start: float, done: Callable[..., Outcome]
) -> Outcome:
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE
    if urlsplit(endpoint.url).scheme != "https" and not allow_private:
        return done(outcome=Attempt.Outcome.REFUSED, error="Only https:// receivers are allowed.")
    # Checked again as at registration: a row written past the services must not reach the
    # client with a host it reads differently from the guard.
    url, problems = url_normalise(endpoint.url, allow_private=allow_private)
    if problems:
        error = f"The URL is not allowed: {' '.join(problems)}"[:300]
        return done(outcome=Attempt.Outcome.REFUSED, error=error)
    headers = {
        "webhook-id": delivery.msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature(endpoint=endpoint, msg_id=delivery.msg_id, at=at, body=delivery.body),
        "content-type": "application/json",
    }
    deadline = start + settings.WEBHOOK_TIMEOUT_SECONDS
    try:
        with http_client().stream("POST", url, content=delivery.body.encode(), headers=headers) as r:
            head, size = bytearray(), 0
            for chunk in r.iter_bytes():
                if len(head) < EXCERPT_CHARS * 4:
                    head += chunk[: EXCERPT_CHARS * 4 - len(head)]
                size += len(chunk)
                if size > DRAIN_BYTES or time.monotonic() > deadline:
                    break  # closing the stream drops the connection rather than read on
            status = r.status_code
            retry_after = retry_after_seconds(r.headers.get("retry-after"), at)
    except AddressRefused as exc:
        return done(outcome=Attempt.Outcome.REFUSED, error=str(exc))
    except httpx.TimeoutException:
        return done(
            outcome=Attempt.Outcome.FAILED,
            error=f"No answer within {settings.WEBHOOK_TIMEOUT_SECONDS} s.",
        )
    except httpx.HTTPError as exc:
        return done(outcome=Attempt.Outcome.FAILED, error=f"{type(exc).__name__}: {exc}"[:300])
    excerpt = bytes(head).decode("utf-8", errors="replace")[:EXCERPT_CHARS]
    if 200 <= status < 300:
        outcome = Attempt.Outcome.SUCCEEDED
    elif status == 410:
        outcome = Attempt.Outcome.GONE
    else:
        outcome = Attempt.Outcome.FAILED
    error = f"Redirects are not followed ({status})." if 300 <= status < 400 else ""
    return done(outcome=outcome, status_code=status, excerpt=excerpt, error=error, retry_after=retry_after)
