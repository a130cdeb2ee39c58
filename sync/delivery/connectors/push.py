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
from sync.delivery.connectors.vendors import Item, PushResult, Target, VendorError, redact
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
    (sync.delivery.connectors.inbound): those are not pushed back; their contacts' other slots
    at this vendor are brought in step instead (`_settle`)."""
    echoed = echoes(connector=connector, event_ids=[d.event_id for d in batch if d.event_id is not None])
    rest = [delivery for delivery in batch if delivery.event_id not in echoed]
    told = [delivery for delivery in batch if delivery.event_id in echoed]
    pushed = iter(
        _push(claim=claim, connector=connector, batch=rest, credentials=credentials) if rest else []
    )
    settled = iter(
        _settle(claim=claim, connector=connector, batch=told, credentials=credentials) if told else []
    )
    return [next(settled) if delivery.event_id in echoed else next(pushed) for delivery in batch]


def _settle(
    *, claim: Claim, connector: Connector, batch: list[Delivery], credentials: dict
) -> list[PushResult]:
    """The vendor's own "no", recorded in Candor, may reach further than what the vendor said:
    an opt-out flag withdraws every purpose mapped on its channel, one subscription type's "no"
    withdraws its purpose, which other types or lists may carry too. So the contacts' slots are
    read at the vendor (the reconciler's read), and each still "subscribed" where Candor now says
    "unsubscribed" is turned off (the reconciler's repair), within seconds rather than at the
    reconciler's next run. What the vendor told Candor is already "unsubscribed" there, so it is
    not written back: no echo. A read or write the vendor refuses fails these deliveries, which
    are retried as any push."""
    adapter = adapter_for(connector.vendor)
    assert adapter is not None
    target = _target(claim=claim, connector=connector, credentials=credentials)
    if isinstance(target, PushResult):
        return [target] * len(batch)
    refs = sorted({d.contact_ref for d in batch if d.contact_ref is not None and d.contact_ref >= 0})
    states = contacts_state(brand_id=claim.endpoint.brand_id, contact_refs=refs) if refs else {}
    live = [state for state in states.values() if not state.erased]
    if not live:
        return [NOT_ECHOED] * len(batch)
    try:
        held = adapter.vendor_read(target, live, client=http_client())
    except VendorError as exc:
        failed = PushResult(
            succeeded=False, status_code=exc.status_code, error=str(exc)[:300], retry_after=exc.retry_after
        )
        return [failed] * len(batch)
    offs = [
        (state, slot)
        for state in live
        for slot, expected in adapter.expected(connector.mapping, state).items()
        if expected == "unsubscribed" and held.get(state.contact_ref, {}).get(slot) == "subscribed"
    ]
    results = adapter.slots_turn_off(target, offs, client=http_client()) if offs else []
    refused: dict[int, PushResult] = {}
    for (state, _slot), result in zip(offs, results, strict=True):
        if not result.succeeded:
            refused.setdefault(state.contact_ref, result)
    turned = {state.contact_ref for state, _slot in offs}
    in_step = PushResult(
        succeeded=True,
        excerpt="Not pushed back: this change came from this vendor. "
        "Its other slots for this contact were turned off to match.",
    )
    results_by_delivery = []
    for delivery in batch:
        ref = delivery.contact_ref
        refusal = refused.get(ref) if ref is not None else None
        results_by_delivery.append(refusal or (in_step if ref in turned else NOT_ECHOED))
    return results_by_delivery


def _target(*, claim: Claim, connector: Connector, credentials: dict) -> Target | PushResult:
    """Where and how to call the vendor, or the refusal that stops the batch (its base URL)."""
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE
    if urlsplit(claim.endpoint.url).scheme != "https" and not allow_private:
        return PushResult(succeeded=False, error="Only https:// vendor hosts are allowed.")
    base_url, problems = url_normalise(claim.endpoint.url, allow_private=allow_private)
    if problems:
        return PushResult(
            succeeded=False, error=f"The API base URL is not allowed: {' '.join(problems)}"[:300]
        )
    return Target(
        public_id=connector.public_id,
        base_url=base_url.rstrip("/"),
        credentials=credentials,
        mapping=connector.mapping,
    )


def _push(
    *, claim: Claim, connector: Connector, batch: list[Delivery], credentials: dict
) -> list[PushResult]:
    adapter = adapter_for(connector.vendor)
    assert adapter is not None
    target = _target(claim=claim, connector=connector, credentials=credentials)
    if isinstance(target, PushResult):
        return [target] * len(batch)
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
