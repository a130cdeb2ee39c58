"""A connector's send step: the claimed batch, mapped from its contacts' current state, goes to
the vendor in as few calls as it allows; each delivery's outcome is recorded as a webhook
attempt's is (sync.delivery.recording), so retries, Retry-After, disabling and the delivery log
are the webhooks' own."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone

from sync.delivery.claims import Claim
from sync.delivery.connectors.crypto import ConnectorKeysMissing, CredentialsUnreadable, credentials_decrypt
from sync.delivery.connectors.inbound import echoes
from sync.delivery.connectors.registry import adapter_for
from sync.delivery.connectors.vendors import Item, PushResult, Target, redact
from sync.delivery.recording import attempt_record, batch_record
from sync.delivery.sending import Outcome, http_client
from sync.delivery.ssrf import AddressRefused, url_normalise
from sync.models import Attempt, Connector, Delivery
from sync.outbox.contact_state import contacts_state

logger = logging.getLogger(__name__)


def connector_batch_push(claim: Claim) -> list[Attempt]:
    """Push the claim's deliveries (up to the vendor's batch size; the rest are given back) and
    record one attempt each. Never raises for the vendor's faults or our own: every outcome is
    recorded, as a webhook attempt's is."""
    at = timezone.now()
    start = time.monotonic()
    connector = Connector.objects.filter(endpoint_id=claim.endpoint.pk).first()
    adapter = adapter_for(connector.vendor) if connector is not None else None
    batch = claim.batch[: adapter.max_batch] if adapter is not None else claim.batch
    credentials: dict[str, Any] = {}
    try:
        if connector is None or adapter is None:
            results = [PushResult(succeeded=False, error="No connector adapter for this endpoint.")] * len(
                batch
            )
        else:
            credentials = credentials_decrypt(connector.credentials)
            results = _push_unechoed(claim=claim, connector=connector, batch=batch, credentials=credentials)
    except (ConnectorKeysMissing, CredentialsUnreadable) as exc:
        results = [PushResult(succeeded=False, error=str(exc)[:300])] * len(batch)
    except AddressRefused as exc:
        results = [PushResult(succeeded=False, error=str(exc)[:300])] * len(batch)
    except Exception as exc:
        # Ours, not the vendor's: say so to the operators without the message (it may hold data).
        logger.warning(
            "connector batch of %s failed before an answer (%s)", claim.endpoint.public_id, type(exc).__name__
        )
        results = [PushResult(succeeded=False, error=f"Not sent: {type(exc).__name__}")] * len(batch)
    seconds = time.monotonic() - start
    outcomes = [_outcome(result, at=at, seconds=seconds, credentials=credentials) for result in results]
    succeeded = [(d, o) for d, o, r in zip(batch, outcomes, results, strict=True) if r.succeeded]
    failed = [(d, o, r) for d, o, r in zip(batch, outcomes, results, strict=True) if not r.succeeded]
    # batch_record finishes the successes and gives back what this batch did not take.
    rest = claim.batch[len(batch) :]
    done = [delivery for delivery, _ in succeeded]
    attempts = batch_record(
        claim=Claim(endpoint=claim.endpoint, batch=done + rest, lease=claim.lease), sent=succeeded
    )
    for delivery, outcome, result in failed:
        attempts.append(
            attempt_record(
                delivery=delivery,
                endpoint=claim.endpoint,
                lease=claim.lease,
                result=outcome,
                permanent=result.permanent,
            )
        )
    return attempts


NOT_ECHOED = PushResult(succeeded=True, excerpt="Not pushed: this change came from this vendor.")


def _push_unechoed(
    *, claim: Claim, connector: Connector, batch: list[Delivery], credentials: dict
) -> list[PushResult]:
    """Push the batch but for the changes this connector's vendor told Candor about itself
    (sync.delivery.connectors.inbound): those succeed without a call."""
    echoed = echoes(connector=connector, event_ids=[d.event_id for d in batch if d.event_id is not None])
    rest = [delivery for delivery in batch if delivery.event_id not in echoed]
    pushed = iter(
        _push(claim=claim, connector=connector, batch=rest, credentials=credentials) if rest else []
    )
    return [NOT_ECHOED if delivery.event_id in echoed else next(pushed) for delivery in batch]


def _push(
    *, claim: Claim, connector: Connector, batch: list[Delivery], credentials: dict
) -> list[PushResult]:
    adapter = adapter_for(connector.vendor)
    assert adapter is not None
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE
    if urlsplit(claim.endpoint.url).scheme != "https" and not allow_private:
        return [PushResult(succeeded=False, error="Only https:// vendor hosts are allowed.")] * len(batch)
    base_url, problems = url_normalise(claim.endpoint.url, allow_private=allow_private)
    if problems:
        return [
            PushResult(succeeded=False, error=f"The API base URL is not allowed: {' '.join(problems)}"[:300])
        ] * len(batch)
    refs = [
        delivery.contact_ref
        for delivery in batch
        if delivery.contact_ref is not None and delivery.contact_ref >= 0
    ]
    states = contacts_state(brand_id=claim.endpoint.brand_id, contact_refs=refs) if refs else {}
    items = [
        Item(
            delivery_id=delivery.pk,
            type=delivery.type,
            contact_ref=delivery.contact_ref,
            state=states.get(delivery.contact_ref) if delivery.contact_ref is not None else None,
        )
        for delivery in batch
    ]
    target = Target(
        public_id=connector.public_id,
        base_url=base_url.rstrip("/"),
        credentials=credentials,
        mapping=connector.mapping,
    )
    return adapter.push(target, items, client=http_client())


def _outcome(result: PushResult, *, at: datetime, seconds: float, credentials: dict[str, Any]) -> Outcome:
    return Outcome(
        started_at=at,
        finished_at=at + timedelta(seconds=seconds),
        duration_ms=int(seconds * 1000),
        outcome=Attempt.Outcome.SUCCEEDED if result.succeeded else Attempt.Outcome.FAILED,
        status_code=result.status_code,
        excerpt=redact(result.excerpt, credentials)[:1024],
        error=redact(result.error, credentials)[:300],
        retry_after=result.retry_after,
    )
