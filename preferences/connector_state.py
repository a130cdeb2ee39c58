"""Contacts' current state as the connectors push it (sync.outbox.contact_state explains why the
domain supplies it): registered in preferences.apps, read at send time, never from event data."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from django.db.models import Count, Max, Q
from django.utils import timezone

from consent.identifiers import email_hmac, normalise_email
from consent.models import ConsentEvent, ConsentState, Contact, Decision, Purpose
from consent.selectors import consent_status
from preferences.models import (
    NOT_SET,
    ChannelOptOut,
    PendingUnsubscribe,
    Subscription,
    SubscriptionStatus,
    Topic,
)
from preferences.selectors import PreferencesSnapshot, topic_channels
from sync.outbox.contact_state import BrandCatalogue, ContactState


def contacts_state(*, brand_id: int, contact_refs: Sequence[int]) -> dict[int, ContactState]:
    """The brand's contacts by id (tenant-scoped: another brand's ids are not found), each read
    with the rules the API and the hosted page use (PreferencesSnapshot.status).

    Set-based: a backfill or the reconciler reads hundreds to thousands at once, so the rows a
    snapshot is made of are read for the whole batch, one query per table (seven, whatever the
    batch's size), and each contact's PreferencesSnapshot is assembled from them: the same
    rules, not a second copy of them."""
    now = timezone.now()
    refs = list(contact_refs)
    contacts = list(Contact.objects.filter(brand_id=brand_id, pk__in=refs).order_by("pk"))
    if not contacts:
        return {}
    ids = [contact.pk for contact in contacts]
    topics = list(
        Topic.objects.filter(brand_id=brand_id)
        .select_related("purpose", "sms_purpose")
        .order_by("position", "slug")
    )
    slugs = dict(Purpose.objects.filter(brand_id=brand_id).values_list("pk", "slug"))
    rows: dict[int, dict[tuple[int, str], Subscription]] = defaultdict(dict)
    for row in Subscription.objects.filter(contact_id__in=ids):
        rows[row.contact_id][(row.topic_id, row.channel)] = row
    consent_states: dict[int, dict[int, ConsentState]] = defaultdict(dict)
    for found in ConsentState.objects.filter(contact_id__in=ids):
        consent_states[found.contact_id][found.purpose_id] = found
    last_withdrawn: dict[int, dict[int, datetime]] = defaultdict(dict)
    for contact_id, purpose_id, at in (
        ConsentEvent.objects.filter(contact_id__in=ids, decision=Decision.WITHDRAWN)
        .values("contact_id", "purpose_id")
        .annotate(at=Max("occurred_at"))
        .values_list("contact_id", "purpose_id", "at")
    ):
        last_withdrawn[contact_id][purpose_id] = at
    opt_outs: dict[int, dict[str, ChannelOptOut]] = defaultdict(dict)
    for opt_out in ChannelOptOut.objects.filter(contact_id__in=ids):
        opt_outs[opt_out.contact_id][opt_out.channel] = opt_out
    accepted: dict[int, set[tuple[int | None, str]]] = defaultdict(set)
    for contact_id, topic_id, channel in PendingUnsubscribe.objects.filter(contact_id__in=ids).values_list(
        "contact_id", "topic_id", "channel"
    ):
        accepted[contact_id].add((topic_id, channel))
    states: dict[int, ContactState] = {}
    for contact in contacts:
        snapshot = PreferencesSnapshot(
            contact=contact,
            now=now,
            topics=topics,
            rows=rows.get(contact.pk, {}),
            states=consent_states.get(contact.pk, {}),
            last_withdrawn=last_withdrawn.get(contact.pk, {}),
            opt_outs=opt_outs.get(contact.pk, {}),
            unsubscribes_accepted=frozenset(accepted.get(contact.pk, set())),
        )
        states[contact.pk] = _state(contact, snapshot, slugs, now)
    return states


def _state(
    contact: Contact, snapshot: PreferencesSnapshot, slugs: dict[int, str], now: datetime
) -> ContactState:
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
    return ContactState(
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


def contacts_external_ids(*, brand_id: int, contact_refs: Sequence[int]) -> dict[int, str]:
    """The brand's live (not erased) contacts' external ids by id: one query."""
    return dict(
        Contact.objects.filter(brand_id=brand_id, pk__in=sorted(set(contact_refs)), erased_at__isnull=True)
        .order_by()
        .values_list("pk", "external_id")
    )


def address_holders(*, brand_id: int, emails: Sequence[str], phones: Sequence[str]) -> dict[str, list[int]]:
    """Of these emails (lowercased) and phones, those a live contact of the brand gives now, each
    with those contacts' ids (ascending): one query (emails through their HMAC, as every email
    lookup; phones by their index)."""
    by_hmac = {email_hmac(normalise_email(email)): normalise_email(email) for email in emails}
    rows = (
        Contact.objects.filter(brand_id=brand_id, erased_at__isnull=True)
        .filter(Q(email_hmac__in=sorted(by_hmac)) | Q(phone__in=sorted(set(phones))))
        .order_by("pk")
        .values_list("pk", "email_hmac", "phone")
    )
    holders: dict[str, list[int]] = {}
    for pk, hmac_, phone in rows:
        if hmac_ in by_hmac:
            holders.setdefault(by_hmac[hmac_], []).append(pk)
        if phone and phone in phones:
            holders.setdefault(phone, []).append(pk)
    return holders


def contact_refs(*, brand_id: int, after: int, up_to: int | None, limit: int) -> list[int]:
    """The brand's contact ids after `after` (up to `up_to`), ascending: by the primary key's index."""
    rows = Contact.objects.filter(brand_id=brand_id, pk__gt=after)
    if up_to is not None:
        rows = rows.filter(pk__lte=up_to)
    return list(rows.order_by("pk").values_list("pk", flat=True)[:limit])


def contacts_extent(*, brand_id: int) -> tuple[int, int]:
    """How many contacts the brand has, and the newest one's id."""
    found = Contact.objects.filter(brand_id=brand_id).aggregate(count=Count("pk"), last=Max("pk"))
    return found["count"], found["last"] or 0


def brand_catalogue(*, brand_id: int) -> BrandCatalogue:
    """The brand's topics (with their channels) and purposes, as a connector's mapping names them."""
    topics = {topic.slug: topic_channels(topic) for topic in Topic.objects.filter(brand_id=brand_id)}
    purposes = set(Purpose.objects.filter(brand_id=brand_id).values_list("slug", flat=True))
    return BrandCatalogue(topics=topics, purposes=purposes)
