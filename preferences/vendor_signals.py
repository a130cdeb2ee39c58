"""A vendor's "no" in the ledger (sync.delivery.connectors.inbound explains the flow; registered in
preferences.apps): an unsubscribe, complaint or bounce that a CRM or email tool saw becomes a
withdrawal or a channel opt-out with method `connector`, in one transaction.

What the signal covers decides the write: the vendor's global unsubscribe is recorded as
"unsubscribe from all" on the channel; named topics are unsubscribed on the signal's channel (the
purpose is withdrawn with the last of them, as on the hosted page); named purposes are withdrawn.
A signal only ever takes away: a "no" that Candor already holds writes nothing.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from consent.identifiers import email_hmac, normalise_email
from consent.models import Contact, Decision, Method, Purpose
from consent.services import EvidenceInput, consent_record
from preferences.models import Channel, SubscriptionStatus, Topic
from preferences.selectors import preferences_snapshot
from preferences.services import SubscriptionChange, preferences_update
from sync.models import Connector, Event, InboundSignal
from sync.outbox.vendor_signals import RecordedSignal, VendorSignal


def _contact_for(connector: Connector, signal: VendorSignal) -> Contact | None:
    contacts = Contact.objects.filter(brand_id=connector.brand_id, erased_at__isnull=True)
    if signal.external_id:
        found = contacts.filter(external_id=signal.external_id).first()
        if found is not None:
            return found
    if signal.email:
        # Through the HMAC, as every email lookup: the oldest contact with the address.
        found = contacts.filter(email_hmac=email_hmac(normalise_email(signal.email))).order_by("pk").first()
        if found is not None:
            return found
    if signal.phone:
        return contacts.filter(phone=signal.phone).order_by("pk").first()
    return None


def _evidence(connector: Connector, signal: VendorSignal, received_at: datetime) -> EvidenceInput:
    message = {
        "vendor": connector.vendor,
        "connector": connector.public_id,
        "event_id": signal.event_id,
        "kind": signal.kind,
        "channel": signal.channel,
        "received_at": received_at.isoformat(),
    }
    message.update({f"vendor_{key}": str(value)[:200] for key, value in sorted(signal.detail.items())})
    return EvidenceInput(phone=signal.phone or "", message=message)


def vendor_signal_record(
    *, connector: Connector, signal: VendorSignal, received_at: datetime
) -> RecordedSignal:
    """Record one verified signal for the connector's brand (the caller holds the transaction
    and has kept the signal's id, so this runs once per vendor event)."""
    contact = _contact_for(connector, signal)
    if contact is None or signal.channel not in Channel.values:
        return RecordedSignal(outcome=InboundSignal.Outcome.UNKNOWN_CONTACT)
    brand = connector.brand
    recorded_by = f"connector:{connector.public_id}"
    evidence = _evidence(connector, signal, received_at)
    # The vendor's time, never later than now (a vendor's clock ahead of ours is not the future).
    occurred_at = min(signal.occurred_at or received_at, received_at)
    with transaction.atomic():
        # Locked before counting: the events after `before` are this signal's and no one else's.
        contact = Contact.objects.select_for_update().get(pk=contact.pk)
        before = contact.event_sequence
        if signal.whole_channel or not (signal.topics or signal.purposes):
            preferences_update(
                brand=brand,
                external_id=contact.external_id,
                method=Method.CONNECTOR,
                recorded_by=recorded_by,
                unsubscribed_all={signal.channel: True},
                occurred_at=occurred_at,
                evidence=evidence,
            )
        topics = [
            topic
            for topic in Topic.objects.filter(brand=brand, slug__in=signal.topics).order_by("slug")
            if signal.channel in topic.channels and not topic.transactional
        ]
        if topics:
            preferences_update(
                brand=brand,
                external_id=contact.external_id,
                method=Method.CONNECTOR,
                recorded_by=recorded_by,
                subscriptions=[
                    SubscriptionChange(
                        topic=topic.slug, channel=signal.channel, status=SubscriptionStatus.UNSUBSCRIBED
                    )
                    for topic in topics
                ],
                occurred_at=occurred_at,
                evidence=evidence,
            )
        if signal.purposes:
            contact.refresh_from_db(fields=["event_sequence"])
            snapshot = preferences_snapshot(contact=contact)
            for purpose in Purpose.objects.filter(brand=brand, slug__in=signal.purposes).order_by("slug"):
                if not snapshot.consent_granted(purpose.pk):
                    continue  # already a "no" (or never a "yes"): nothing to take away
                consent_record(
                    brand=brand,
                    external_id=contact.external_id,
                    purpose_slug=purpose.slug,
                    decision=Decision.WITHDRAWN,
                    notice_version_id=None,
                    method=Method.CONNECTOR,
                    recorded_by=recorded_by,
                    occurred_at=occurred_at,
                    evidence=evidence,
                )
    event_ids = list(
        Event.objects.filter(contact_ref=contact.pk, sequence__gt=before)
        .order_by("sequence")
        .values_list("pk", flat=True)
    )
    return RecordedSignal(
        outcome=InboundSignal.Outcome.RECORDED if event_ids else InboundSignal.Outcome.UNCHANGED,
        contact_ref=contact.pk,
        event_ids=event_ids,
    )
