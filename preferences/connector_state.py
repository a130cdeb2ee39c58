"""Contacts' current state as the connectors push it (sync.outbox.contact_state explains why the
domain supplies it): registered in preferences.apps, read at send time, never from event data."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils import timezone

from consent.models import Contact, Decision, Purpose
from consent.selectors import consent_status
from preferences.models import NOT_SET, SubscriptionStatus, Topic
from preferences.selectors import preferences_snapshot, topic_channels
from sync.outbox.contact_state import BrandCatalogue, ContactState


def contacts_state(*, brand_id: int, contact_refs: Sequence[int]) -> dict[int, ContactState]:
    """The brand's contacts by id (tenant-scoped: another brand's ids are not found), each read
    with the rules the API and the hosted page use (PreferencesSnapshot.status). One round trip
    per contact: a connector batch holds a few dozen."""
    now = timezone.now()
    contacts = Contact.objects.filter(brand_id=brand_id, pk__in=list(contact_refs)).order_by("pk")
    slugs = dict(Purpose.objects.filter(brand_id=brand_id).values_list("pk", "slug"))
    states: dict[int, ContactState] = {}
    for contact in contacts:
        snapshot = preferences_snapshot(contact=contact, now=now)
        subscriptions: dict[tuple[str, str], str] = {}
        subscribed_at = {}
        for topic in snapshot.topics:
            for channel in topic_channels(topic):
                status = snapshot.status(topic, channel)
                purpose_id = topic.purpose_id_for(channel)
                said_no = not topic.transactional and (
                    snapshot.opted_out(channel)
                    or (purpose_id in snapshot.states and not snapshot.consent_granted(purpose_id))
                )
                if said_no and status in (NOT_SET, SubscriptionStatus.SUBSCRIBED):
                    # A "no" is never read as "unknown", and an opt-out of the channel wins.
                    status = SubscriptionStatus.UNSUBSCRIBED
                subscriptions[(topic.slug, channel)] = status
                row = snapshot.rows.get((topic.pk, channel))
                if row is not None:
                    subscribed_at[(topic.slug, channel)] = row.occurred_at
        consents = {
            slugs[purpose_id]: consent_status(decision=state.decision, expires_at=state.expires_at, now=now)
            for purpose_id, state in snapshot.states.items()
            if purpose_id in slugs
        }
        consented_at = {
            slugs[purpose_id]: state.occurred_at
            for purpose_id, state in snapshot.states.items()
            if purpose_id in slugs and state.decision == Decision.GRANTED
        }
        states[contact.pk] = ContactState(
            contact_ref=contact.pk,
            external_id=contact.external_id,
            email=contact.email,
            phone=contact.phone,
            erased=contact.erased_at is not None,
            suppressed=contact.suppressed,
            consents=consents,
            consented_at=consented_at,
            subscriptions=subscriptions,
            subscribed_at=subscribed_at,
            unsubscribed_all={channel: snapshot.opted_out(channel) for channel in snapshot.opt_outs},
        )
    return states


def brand_catalogue(*, brand_id: int) -> BrandCatalogue:
    """The brand's topics (with their channels) and purposes, as a connector's mapping names them."""
    topics = {topic.slug: topic_channels(topic) for topic in Topic.objects.filter(brand_id=brand_id)}
    purposes = set(Purpose.objects.filter(brand_id=brand_id).values_list("slug", flat=True))
    return BrandCatalogue(topics=topics, purposes=purposes)
