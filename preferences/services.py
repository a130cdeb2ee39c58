"""Every write to contacts' subscriptions, channel opt-outs and holds (a brand's topics: preferences.topics).

A change is one transaction: lock the contact (and read its snapshot in the same round trip),
validate everything against the brand's topics, then write the subscription rows, the
ConsentEvent(s) their purposes need (through `consent.services.consent_append`, the ledger's
door for a caller that already holds the contact's lock) and the outbox Events. A rejected
change writes nothing.

Rules (ARCHITECTURE.md, issue #3):

- Subscribing a non-transactional topic needs its purpose granted; if it is not, the caller
  names the notice version that was shown and the grant is recorded with the caller's method
  and evidence. With double opt-in the row is `pending` instead and nothing is granted until
  `subscription_confirm`.
- When an unsubscribe leaves a purpose with no subscribed or pending topic and channel, the
  purpose's grant is withdrawn in the ledger. Transactional topics cannot be unsubscribed.
- Conflict rule, as in the ledger: the latest `occurred_at` wins and an unsubscribe wins a tie,
  so a late, older write never re-enables a newer opt-out.
- Double opt-in: a pending request lasts 72 hours from when it began; its confirmation email
  goes out after commit (`preferences_update_with_confirmation`, `confirmation_resend`, at
  most once per 10 minutes per topic), and a confirm link works once
  (`subscription_confirm_link`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from brands.audit import Actor, AuditAction
from brands.models import Brand
from brands.services import audit_record
from config.errors import ApplicationError, Conflict, NotFound, Unprocessable
from consent.ledger import iso_utc
from consent.models import ConsentEvent, ConsentState, Contact, Decision, Method, NoticeVersion, Purpose
from consent.services import (
    ConsentDecision,
    EvidenceInput,
    consent_append,
    contact_upsert_and_decide,
    suppressed_error,
)
from preferences import statements
from preferences.emails import ConfirmUrlBuilder, confirmation_send
from preferences.models import (
    Channel,
    ChannelOptOut,
    Hold,
    HoldEndReason,
    HoldStartedBy,
    Subscription,
    SubscriptionStatus,
    Topic,
)
from preferences.selectors import (
    CONFIRMATION_LIFETIME,
    CONFIRMATION_RESEND_INTERVAL,
    PreferencesSnapshot,
    confirmation_expired,
    confirmation_requested_at,
    snapshot_from_rows,
    topic_channels,
)
from sync.models import Event, EventType
from sync.outbox.events import event_build

logger = logging.getLogger(__name__)

CUSTOMER_HOLD_WEEKS = (1, 2, 4, 8)
SUBSCRIBED = SubscriptionStatus.SUBSCRIBED.value
UNSUBSCRIBED = SubscriptionStatus.UNSUBSCRIBED.value
PENDING = SubscriptionStatus.PENDING.value


# --- Page sessions ---------------------------------------------------------------------


def contact_page_sessions_end(*, brand: Brand, contact: Contact) -> None:
    """End every hosted-centre session of the contact (sign-out): the generation their cookies
    carry is no longer the contact's. One conditional UPDATE, scoped to the brand."""
    Contact.objects.filter(brand=brand, pk=contact.pk).update(
        page_session_generation=F("page_session_generation") + 1
    )


# --- Inputs and results ------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionChange:
    """One topic and channel to change. `status` is subscribed or unsubscribed; either or both
    of status and cadence. `notice_version` (public id) is the notice shown when asking."""

    topic: str
    channel: str
    status: str | None = None
    cadence: str | None = None
    notice_version: str | None = None


@dataclass(frozen=True)
class HoldRequest:
    """A customer snoozes for `weeks` (1, 2, 4 or 8); an agent gives `until` and a `reason`.
    Empty topics (slugs) or channels mean all of them."""

    started_by: str
    weeks: int | None = None
    until: datetime | None = None
    reason: str = ""
    topics: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()


@dataclass
class PreferencesResult:
    contact: Contact
    consent_events: list[ConsentEvent] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)  # outbox, in sequence order
    # Double opt-in hook: rows that (again) await confirmation. Send the confirmation with
    # transaction.on_commit, never inside the transaction.
    pending: list[Subscription] = field(default_factory=list)
    confirmed: list[Subscription] = field(default_factory=list)
    holds_started: list[Hold] = field(default_factory=list)
    holds_ended: list[Hold] = field(default_factory=list)


# --- The change context ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Outgoing:
    type: EventType
    data: dict[str, Any]
    occurred_at: datetime


@dataclass
class _Context:
    brand: Brand
    contact: Contact
    now: datetime
    at: datetime  # occurred_at of every decision in this change
    snapshot: PreferencesSnapshot
    before: dict[tuple[int, str], tuple[str, str]]
    opted_out_before: dict[str, bool]
    result: PreferencesResult
    newly_opted_out: list[str] = field(default_factory=list)
    hold_events: list[_Outgoing] = field(default_factory=list)
    # The request's evidence: a double opt-in request that begins keeps its IP and user agent.
    evidence: EvidenceInput | None = None


def _readings(snapshot: PreferencesSnapshot) -> dict[tuple[int, str], tuple[str, str]]:
    return {
        (topic.pk, channel): (snapshot.status(topic, channel), snapshot.cadence(topic, channel))
        for topic in snapshot.topics
        for channel in topic_channels(topic)
    }


def _begin(*, brand: Brand, external_id: str, occurred_at: datetime | None) -> _Context:
    now = timezone.now()
    at = occurred_at or now
    if at > now + timedelta(seconds=settings.CONSENT_CLOCK_SKEW_SECONDS):
        raise Unprocessable.for_field("occurred_at", "occurred_at lies in the future.")
    # The contact's row lock serialises every write for this contact (ledger, outbox, rows);
    # the snapshot is read once the lock is held, in the same round trip.
    contact, rows = statements.contact_lock_with_snapshot(brand_id=brand.pk, external_id=external_id)
    if contact is None or rows is None:
        raise NotFound(f"No contact '{external_id}'.")
    if contact.erased_at is not None:
        raise Conflict(f"Contact '{external_id}' was erased and cannot be changed.")
    snapshot = snapshot_from_rows(contact=contact, rows=rows, now=now)
    return _Context(
        brand=brand,
        contact=contact,
        now=now,
        at=at,
        snapshot=snapshot,
        before=_readings(snapshot),
        opted_out_before={channel: snapshot.opted_out(channel) for channel in Channel.values},
        result=PreferencesResult(contact=contact),
    )


def _check_method(method: str) -> None:
    if method not in Method.values:
        raise Unprocessable.for_field("method", f"Unknown method '{method}'.")


def _applies(row: Subscription | None, *, status: str, at: datetime) -> bool:
    """The conflict rule for one row: the latest decision wins; an unsubscribe wins a tie."""
    if row is None or at > row.occurred_at:
        return True
    return at == row.occurred_at and (status == UNSUBSCRIBED or row.status != UNSUBSCRIBED)


def _opt_out_blocks(ctx: _Context, channel: str) -> bool:
    """A channel opt-out not older than this change keeps the channel closed."""
    opt_out = ctx.snapshot.opt_outs.get(channel)
    return opt_out is not None and opt_out.opted_out and opt_out.occurred_at >= ctx.at


def _write_row(
    ctx: _Context,
    *,
    topic: Topic,
    channel: str,
    status: str | None = None,
    cadence: str | None = None,
    notice_version: NoticeVersion | None = None,
) -> Subscription:
    """Create or update the row; a status change also moves its occurred_at.

    A row that becomes pending starts a double opt-in request (asking again while one is under
    way keeps it, so links already sent stay good); any other status ends the request."""
    key = (topic.pk, channel)
    row = ctx.snapshot.rows.get(key)
    if row is None:
        row = Subscription(
            brand=ctx.brand,
            contact=ctx.contact,
            topic=topic,
            channel=channel,
            status=status or SUBSCRIBED,
            cadence=cadence or ctx.snapshot.cadence(topic, channel),
            occurred_at=ctx.at,
            notice_version=notice_version,
            confirmation_requested_at=ctx.now if status == PENDING else None,
        )
        if status == PENDING:
            _request_proof_keep(ctx, row)
        row.save(force_insert=True)
        ctx.snapshot.rows[key] = row
        return row
    update_fields = ["updated_at"]
    if status is not None:
        if status != PENDING:
            row.confirmation_requested_at = row.confirmation_sent_at = None
            _request_proof_clear(row)
        elif row.status != PENDING or confirmation_expired(row, now=ctx.now):
            row.confirmation_requested_at, row.confirmation_sent_at = ctx.now, None
            _request_proof_clear(row)
            _request_proof_keep(ctx, row)
        row.status, row.occurred_at, row.notice_version = status, ctx.at, notice_version
        update_fields += [
            "status",
            "occurred_at",
            "notice_version",
            "confirmation_requested_at",
            "confirmation_sent_at",
            "confirmation_request_ip",
            "confirmation_request_user_agent",
            "confirmation_email",
        ]
    if cadence is not None:
        row.cadence = cadence
        update_fields.append("cadence")
    row.save(update_fields=update_fields)
    return row


def _request_proof_keep(ctx: _Context, row: Subscription) -> None:
    """A double opt-in request begins: keep its (already truncated) IP and user agent."""
    evidence = ctx.evidence or EvidenceInput()
    row.confirmation_request_ip, row.confirmation_request_user_agent = evidence.ip, evidence.user_agent


def _request_proof_clear(row: Subscription) -> None:
    """The request ended (confirmed, refused or superseded): its proof now lives on the grant,
    if any, so the row keeps no IP or user agent."""
    row.confirmation_request_ip = row.confirmation_request_user_agent = ""
    row.confirmation_email = None


def _request_proof(row: Subscription) -> EvidenceInput:
    """The proof a confirmed request hands to its grant (compliance #9)."""
    return EvidenceInput(
        opt_in_request_ip=row.confirmation_request_ip,
        opt_in_request_user_agent=row.confirmation_request_user_agent,
        opt_in_request={
            "requested_at": iso_utc(confirmation_requested_at(row)),
            "confirmation_email": row.confirmation_email,
        },
    )


def _set_opt_out(ctx: _Context, channel: str, *, opted_out: bool) -> None:
    opt_out = ctx.snapshot.opt_outs.get(channel)
    if opt_out is None:
        opt_out = ChannelOptOut.objects.create(
            brand=ctx.brand, contact=ctx.contact, channel=channel, opted_out=opted_out, occurred_at=ctx.at
        )
        ctx.snapshot.opt_outs[channel] = opt_out
        return
    opt_out.opted_out, opt_out.occurred_at = opted_out, ctx.at
    opt_out.save(update_fields=["opted_out", "occurred_at", "updated_at"])


def _record(
    ctx: _Context,
    *,
    purpose: Purpose,
    decision: str,
    notice_version: NoticeVersion | None,
    method: str,
    recorded_by: str,
    actor: str,
    evidence: EvidenceInput | None,
    confirmed_opt_in: bool = False,
) -> None:
    """Append to the ledger under the lock `_begin` took (consent_append: the contact is not
    locked or read again), and keep the snapshot's consent readings up to date."""
    event, moved = consent_append(
        confirmed_opt_in=confirmed_opt_in,
        brand=ctx.brand,
        contact=ctx.contact,
        purpose=purpose,
        decision=decision,
        notice_version=notice_version,
        method=method,
        recorded_by=recorded_by,
        actor=actor,
        occurred_at=ctx.at,
        evidence=evidence,
    )
    ctx.result.consent_events.append(event)
    if moved:  # the projection now points at this event, as a fresh read would show
        ctx.snapshot.states[purpose.pk] = ConsentState(
            brand_id=event.brand_id,
            contact_id=event.contact_id,
            purpose_id=purpose.pk,
            decision=event.decision,
            event_id=event.id,
            event_sequence=event.sequence,
            notice_version_id=event.notice_version_id,
            occurred_at=event.occurred_at,
            expires_at=event.expires_at,
            updated_at=event.recorded_at,
        )
    if decision == Decision.WITHDRAWN:
        previous = ctx.snapshot.last_withdrawn.get(purpose.pk)
        ctx.snapshot.last_withdrawn[purpose.pk] = max(previous, ctx.at) if previous else ctx.at


class _Grant(NamedTuple):
    purpose: Purpose
    notice_version: NoticeVersion
    channel: str  # the channel whose subscription needed it
    proof: EvidenceInput | None = None  # a confirmed double opt-in request's


def _record_grants(
    ctx: _Context,
    grants: dict[int, _Grant],
    *,
    method: str,
    recorded_by: str,
    actor: str,
    evidence: EvidenceInput | None,
    confirmed_opt_in: bool = False,
) -> None:
    """One grant per purpose that a subscription newly needs, under the notice it was given.
    Consent to texts also keeps the number it covers (47 CFR 64.1200(f)(9))."""
    for grant in grants.values():
        given = evidence or EvidenceInput()
        if grant.channel == Channel.SMS and ctx.contact.phone:
            given = replace(given, phone=ctx.contact.phone)
        if grant.proof is not None:
            given = replace(
                given,
                opt_in_request_ip=grant.proof.opt_in_request_ip,
                opt_in_request_user_agent=grant.proof.opt_in_request_user_agent,
                opt_in_request=grant.proof.opt_in_request,
            )
        _record(
            ctx,
            confirmed_opt_in=confirmed_opt_in,
            purpose=grant.purpose,
            decision=Decision.GRANTED,
            notice_version=grant.notice_version,
            method=method,
            recorded_by=recorded_by,
            actor=actor,
            evidence=given,
        )


def _withdraw_if_last(
    ctx: _Context,
    purposes: dict[int, Purpose],
    *,
    method: str,
    recorded_by: str,
    actor: str,
    evidence: EvidenceInput | None,
) -> None:
    """Withdraw each granted purpose that no subscribed or pending topic and channel needs any more."""
    for purpose_id, purpose in purposes.items():
        state = ctx.snapshot.states.get(purpose_id)
        if state is None or state.decision != Decision.GRANTED:
            continue  # nothing to withdraw
        if ctx.snapshot.purpose_active(purpose_id):
            continue
        _record(
            ctx,
            purpose=purpose,
            decision=Decision.WITHDRAWN,
            notice_version=None,
            method=method,
            recorded_by=recorded_by,
            actor=actor,
            evidence=evidence,
        )


def _emit(*, brand: Brand, contact: Contact, entries: list[_Outgoing]) -> list[Event]:
    """Append outbox Events after whatever the ledger already numbered. The caller holds the
    contact's lock and read `contact.event_sequence` under it (consent_append keeps it current),
    so the per-contact sequence cannot be taken twice."""
    if not entries:
        return []
    sequence = contact.event_sequence
    events = []
    for entry in entries:
        sequence += 1
        events.append(
            event_build(
                brand=brand,
                type=entry.type,
                contact_ref=contact.pk,
                subject=contact.external_id,
                sequence=sequence,
                data=entry.data,
                occurred_at=entry.occurred_at,
            )
        )
    statements.outbox_append(contact=contact, events=events)
    contact.event_sequence = sequence
    return events


def _finish(ctx: _Context) -> PreferencesResult:
    """Compare how every topic and channel read before and after; announce what changed.

    "After" is the snapshot the change kept up to date as it wrote (rows, opt-outs, consent
    states and withdrawals), under the lock, so it reads as a fresh read would."""
    after = ctx.snapshot
    readings = _readings(after)
    slugs = {topic.pk: topic.slug for topic in after.topics}
    changed = [
        {"topic": slugs[topic_id], "channel": channel, "status": status, "cadence": cadence}
        for (topic_id, channel), (status, cadence) in readings.items()
        if ctx.before.get((topic_id, channel)) != (status, cadence)
    ]
    channels_changed = {
        channel: after.opted_out(channel)
        for channel in Channel.values
        if after.opted_out(channel) != ctx.opted_out_before[channel]
    }
    entries: list[_Outgoing] = []
    if changed or channels_changed:
        data = {
            "subscriptions": changed,
            "unsubscribed_all": channels_changed,
            "occurred_at": iso_utc(ctx.at),
        }
        entries.append(_Outgoing(EventType.PREFERENCES_UPDATED, data, ctx.at))
    for channel in ctx.newly_opted_out:
        data = {"channel": channel, "scope": "all", "occurred_at": iso_utc(ctx.at)}
        entries.append(_Outgoing(EventType.CONTACT_UNSUBSCRIBED, data, ctx.at))
    entries.extend(ctx.hold_events)
    ctx.result.events = _emit(brand=ctx.brand, contact=ctx.contact, entries=entries)
    return ctx.result


# --- Validation (before anything is written) ---------------------------------------------------


@dataclass
class _RowPlan:
    index: int
    topic: Topic
    channel: str
    status: str | None
    cadence: str | None
    notice_version: NoticeVersion | None
    needs_consent: bool  # subscribing while the purpose is not granted


def _plan_subscriptions(ctx: _Context, changes: Sequence[SubscriptionChange]) -> list[_RowPlan]:
    topics = {topic.slug: topic for topic in ctx.snapshot.topics}
    given_ids = {change.notice_version for change in changes if change.notice_version}
    versions = {
        version.public_id: version
        for version in NoticeVersion.objects.select_related("notice").filter(
            public_id__in=given_ids, notice__brand=ctx.brand
        )
    }
    plans: list[_RowPlan] = []
    seen: set[tuple[int, str]] = set()
    for index, change in enumerate(changes):
        name = f"subscriptions.{index}"
        topic = topics.get(change.topic)
        if topic is None:
            raise Unprocessable.for_field(f"{name}.topic", f"Unknown topic '{change.topic}'.")
        if change.channel not in topic.channels:
            raise Unprocessable.for_field(
                f"{name}.channel",
                f"Topic '{topic.slug}' is not offered on '{change.channel}'; "
                f"it is offered on {', '.join(topic_channels(topic))}.",
            )
        if (topic.pk, change.channel) in seen:
            raise Unprocessable.for_field(name, f"'{topic.slug}' on '{change.channel}' is named twice.")
        seen.add((topic.pk, change.channel))
        if change.status is None and change.cadence is None:
            raise Unprocessable.for_field(f"{name}.status", "Give a status, a cadence or both.")
        if change.status not in (None, SUBSCRIBED, UNSUBSCRIBED):
            raise Unprocessable.for_field(f"{name}.status", "status must be 'subscribed' or 'unsubscribed'.")
        if change.status == UNSUBSCRIBED and topic.transactional:
            raise Unprocessable.for_field(
                f"{name}.status", f"Topic '{topic.slug}' is transactional and cannot be switched off."
            )
        if change.cadence is not None and change.cadence not in topic.cadence_options:
            raise Unprocessable.for_field(
                f"{name}.cadence",
                f"Topic '{topic.slug}' offers the cadences {', '.join(topic.cadence_options)}.",
            )
        if change.status is None and ctx.snapshot.status(topic, change.channel) == "not_set":
            raise Unprocessable.for_field(
                f"{name}.cadence",
                f"Subscribe to '{topic.slug}' on '{change.channel}' before choosing a cadence.",
            )
        version = None
        if change.notice_version and not topic.transactional:
            version = versions.get(change.notice_version)
            if version is None:
                raise Unprocessable.for_field(
                    f"{name}.notice_version", f"Unknown notice version '{change.notice_version}'."
                )
            if version.notice.purpose_id != topic.purpose_id_for(change.channel):
                raise Unprocessable.for_field(
                    f"{name}.notice_version",
                    f"Notice version '{change.notice_version}' is not the notice of topic '{topic.slug}' "
                    f"on '{change.channel}'.",
                )
        needs_consent = (
            change.status == SUBSCRIBED
            and not topic.transactional
            and not ctx.snapshot.consent_granted(topic.purpose_id_for(change.channel))
        )
        if needs_consent and change.channel == Channel.SMS and topic.sms_purpose_id and not ctx.contact.phone:
            # Consent to texts under their own notice names the number it covers (TCPA,
            # 47 CFR 64.1200(f)(9)): without a number there is nothing to consent to.
            raise Unprocessable.for_field(
                f"{name}.channel", f"Texts need a phone number: contact '{ctx.contact.external_id}' has none."
            )
        plans.append(
            _RowPlan(
                index=index,
                topic=topic,
                channel=change.channel,
                status=change.status,
                cadence=change.cadence,
                notice_version=version,
                needs_consent=needs_consent,
            )
        )
    # A grant needs the notice that was shown: from the row, or another row of the same purpose.
    shown: dict[int | None, NoticeVersion] = {}
    for plan in plans:
        if plan.notice_version is not None:
            shown.setdefault(plan.topic.purpose_id_for(plan.channel), plan.notice_version)
    for plan in plans:
        if plan.needs_consent:
            plan.notice_version = plan.notice_version or shown.get(plan.topic.purpose_id_for(plan.channel))
            if plan.notice_version is None:
                raise Unprocessable.for_field(
                    f"subscriptions.{plan.index}.notice_version",
                    f"Subscribing to '{plan.topic.slug}' needs consent to its purpose: "
                    f"name the notice version the person was shown.",
                )
    return plans


def _plan_unsubscribed_all(unsubscribed_all: Mapping[str, bool] | None) -> dict[str, bool]:
    plan = dict(unsubscribed_all or {})
    for channel, value in plan.items():
        if channel not in Channel.values:
            raise Unprocessable.for_field(f"unsubscribed_all.{channel}", f"Unknown channel '{channel}'.")
        if not isinstance(value, bool):
            raise Unprocessable.for_field(f"unsubscribed_all.{channel}", "Use true or false.")
    return plan


@dataclass(frozen=True)
class _HoldPlan:
    started_by: str
    until: datetime
    reason: str
    topics: list[Topic]
    channels: list[str]


def _plan_hold(ctx: _Context, request: HoldRequest, name: str) -> _HoldPlan:
    if request.started_by == HoldStartedBy.CUSTOMER:
        if request.weeks not in CUSTOMER_HOLD_WEEKS or request.until is not None:
            raise Unprocessable.for_field(
                f"{name}.weeks", f"A customer pauses for {', '.join(map(str, CUSTOMER_HOLD_WEEKS))} weeks."
            )
        until = ctx.now + timedelta(weeks=request.weeks)
    elif request.started_by == HoldStartedBy.AGENT:
        if request.until is None or request.weeks is not None:
            raise Unprocessable.for_field(f"{name}.until", "An agent's hold needs the time it ends.")
        if request.until <= ctx.now:
            raise Unprocessable.for_field(f"{name}.until", "until must lie in the future.")
        if not request.reason.strip():
            raise Unprocessable.for_field(f"{name}.reason", "An agent's hold needs a reason.")
        until = request.until
    else:
        raise Unprocessable.for_field(f"{name}.started_by", "started_by must be 'customer' or 'agent'.")
    topics_by_slug = {topic.slug: topic for topic in ctx.snapshot.topics}
    topics = []
    for slug in dict.fromkeys(request.topics):
        topic = topics_by_slug.get(slug)
        if topic is None:
            raise Unprocessable.for_field(f"{name}.topics", f"Unknown topic '{slug}'.")
        if topic.transactional:
            raise Unprocessable.for_field(
                f"{name}.topics", f"Topic '{slug}' is transactional and cannot be paused."
            )
        topics.append(topic)
    channels = list(dict.fromkeys(request.channels))
    unknown = [channel for channel in channels if channel not in Channel.values]
    if unknown:
        raise Unprocessable.for_field(f"{name}.channels", f"Unknown channel(s) {unknown}.")
    return _HoldPlan(
        started_by=request.started_by,
        until=until,
        reason=request.reason.strip(),
        topics=topics,
        channels=[channel for channel in Channel.values if channel in channels],
    )


def _plan_hold_ends(ctx: _Context, hold_ids: Sequence[str], name: str) -> list[Hold]:
    found = {
        hold.public_id: hold
        for hold in Hold.objects.filter(contact=ctx.contact, public_id__in=list(hold_ids)).select_for_update()
    }
    holds = []
    for public_id in dict.fromkeys(hold_ids):
        if public_id not in found:
            raise Unprocessable.for_field(name, f"Unknown hold '{public_id}'.")
        holds.append(found[public_id])
    return holds


# --- Writing -------------------------------------------------------------------------------


def _suppressed_needs_confirmation(ctx: _Context, plan: _RowPlan, method: str) -> bool:
    """A suppressed contact (its address was erased earlier) opts in to marketing again only by
    a double opt-in by email that it asks for on the hosted page and confirms by the emailed
    link. True when this row must wait for that; any other way to opt in is refused."""
    purpose = plan.topic.purpose
    if not (plan.needs_consent and ctx.contact.suppressed and purpose is not None and purpose.is_marketing):
        return False
    if method == Method.PREFERENCE_CENTRE and plan.channel == Channel.EMAIL:
        return True
    raise suppressed_error(ctx.contact.external_id)


def _apply_subscriptions(
    ctx: _Context, plans: list[_RowPlan], *, method: str
) -> tuple[dict[int, Purpose], dict[int, _Grant]]:
    """Write the rows. Returns the purposes that saw an unsubscribe, and the grants to record."""
    unsubscribed: dict[int, Purpose] = {}
    grants: dict[int, _Grant] = {}
    for plan in plans:
        topic, channel = plan.topic, plan.channel
        row = ctx.snapshot.rows.get((topic.pk, channel))
        if plan.status is None:
            # Only the cadence: it never re-enables anything, so it always applies. An implied
            # default subscription becomes an explicit one.
            _write_row(
                ctx, topic=topic, channel=channel, cadence=plan.cadence, status=None if row else SUBSCRIBED
            )
            continue
        status = plan.status
        if _suppressed_needs_confirmation(ctx, plan, method) or (plan.needs_consent and topic.double_opt_in):
            status = PENDING
        blocked = status != UNSUBSCRIBED and _opt_out_blocks(ctx, channel)
        if blocked or not _applies(row, status=status, at=ctx.at):
            if plan.cadence is not None and row is not None:
                _write_row(ctx, topic=topic, channel=channel, cadence=plan.cadence)
            continue  # an older decision: the newer one stands
        if status != UNSUBSCRIBED and ctx.snapshot.opted_out(channel):
            _set_opt_out(ctx, channel, opted_out=False)  # coming back clears "unsubscribe from all"
        row = _write_row(
            ctx,
            topic=topic,
            channel=channel,
            status=status,
            cadence=plan.cadence,
            notice_version=plan.notice_version if status == PENDING else None,
        )
        if status == PENDING:
            ctx.result.pending.append(row)
        elif status == SUBSCRIBED and plan.needs_consent:
            purpose = topic.purpose_for(channel)
            assert purpose is not None
            assert plan.notice_version is not None
            grants.setdefault(purpose.pk, _Grant(purpose, plan.notice_version, channel))
        elif status == UNSUBSCRIBED and (purpose := topic.purpose_for(channel)) is not None:
            unsubscribed[purpose.pk] = purpose
    return unsubscribed, grants


def _apply_opt_out(ctx: _Context, channel: str) -> dict[int, Purpose]:
    """Unsubscribe from all on one channel: every non-transactional topic there, and the flag."""
    unsubscribed: dict[int, Purpose] = {}
    opt_out = ctx.snapshot.opt_outs.get(channel)
    if opt_out is None or ctx.at >= opt_out.occurred_at:
        if not ctx.snapshot.opted_out(channel):
            ctx.newly_opted_out.append(channel)
        _set_opt_out(ctx, channel, opted_out=True)
    for topic in ctx.snapshot.topics:
        if topic.transactional or channel not in topic.channels:
            continue
        row = ctx.snapshot.rows.get((topic.pk, channel))
        # Each row follows the conflict rule by itself: a newer choice on it stands.
        if _applies(row, status=UNSUBSCRIBED, at=ctx.at):
            _write_row(ctx, topic=topic, channel=channel, status=UNSUBSCRIBED)
            if (purpose := topic.purpose_for(channel)) is not None:
                unsubscribed[purpose.pk] = purpose
    return unsubscribed


def _apply_opt_out_clear(ctx: _Context, channel: str) -> None:
    """Undo "unsubscribe from all" on a channel. Topics stay as they are until chosen again."""
    opt_out = ctx.snapshot.opt_outs.get(channel)
    if opt_out is not None and ctx.at > opt_out.occurred_at:  # a tie keeps the opt-out
        _set_opt_out(ctx, channel, opted_out=False)


def _apply_hold_start(ctx: _Context, plan: _HoldPlan, *, recorded_by: str) -> Hold:
    hold = Hold.objects.create(
        brand=ctx.brand,
        contact=ctx.contact,
        until=plan.until,
        channels=plan.channels,
        started_by=plan.started_by,
        reason=plan.reason,
        recorded_by=recorded_by,
        created_at=ctx.now,
    )
    if plan.topics:
        hold.topics.set(plan.topics)
    ctx.result.holds_started.append(hold)
    data = {
        "hold": hold.public_id,
        "until": iso_utc(hold.until),
        "topics": [topic.slug for topic in plan.topics],
        "channels": list(hold.channels),
        "started_by": hold.started_by,
    }
    ctx.hold_events.append(_Outgoing(EventType.HOLD_STARTED, data, ctx.at))
    return hold


def _end_hold(hold: Hold, *, now: datetime) -> _Outgoing | None:
    """Mark the hold ended, claimed with a conditional update; its `hold.ended`, or None if it
    had already been ended. A hold past its `until` ended by itself, at `until`."""
    expired = hold.until <= now
    ended_at = hold.until if expired else now
    reason = HoldEndReason.EXPIRED if expired else HoldEndReason.ENDED
    claimed = Hold.objects.filter(pk=hold.pk, ended_at__isnull=True).update(
        ended_at=ended_at, end_reason=reason
    )
    if not claimed:
        return None
    hold.ended_at, hold.end_reason = ended_at, reason
    data = {"hold": hold.public_id, "ended_at": iso_utc(ended_at), "reason": reason.value}
    return _Outgoing(EventType.HOLD_ENDED, data, ended_at)


def _apply_hold_end(ctx: _Context, hold: Hold) -> None:
    outgoing = _end_hold(hold, now=ctx.now)
    if outgoing is not None:
        ctx.result.holds_ended.append(hold)
        ctx.hold_events.append(outgoing)


# --- Public services -------------------------------------------------------------------------


@transaction.atomic
def preferences_update(
    *,
    brand: Brand,
    external_id: str,
    method: str,
    recorded_by: str,
    subscriptions: Sequence[SubscriptionChange] = (),
    unsubscribed_all: Mapping[str, bool] | None = None,
    holds_start: Sequence[HoldRequest] = (),
    holds_end: Sequence[str] = (),
    actor: str = "subject",
    occurred_at: datetime | None = None,
    evidence: EvidenceInput | None = None,
) -> PreferencesResult:
    """Change any part of a contact's preferences in one transaction.

    Order within the change: channels un-opted-out, rows, grants, channels opted out,
    withdrawals, holds; then one `preferences.updated` (every topic and channel whose reading
    changed), one `contact.unsubscribed` per channel newly opted out, and the hold events.
    """
    _check_method(method)
    ctx = _begin(brand=brand, external_id=external_id, occurred_at=occurred_at)
    ctx.evidence = evidence
    plans = _plan_subscriptions(ctx, subscriptions)
    channel_plan = _plan_unsubscribed_all(unsubscribed_all)
    hold_plans = [_plan_hold(ctx, request, f"holds.{index}") for index, request in enumerate(holds_start)]
    holds_to_end = _plan_hold_ends(ctx, holds_end, "holds") if holds_end else []

    for channel, opted_out in channel_plan.items():
        if not opted_out:
            _apply_opt_out_clear(ctx, channel)
    unsubscribed, grants = _apply_subscriptions(ctx, plans, method=method)
    _record_grants(ctx, grants, method=method, recorded_by=recorded_by, actor=actor, evidence=evidence)
    for channel, opted_out in channel_plan.items():
        if opted_out:
            unsubscribed.update(_apply_opt_out(ctx, channel))
    _withdraw_if_last(
        ctx, unsubscribed, method=method, recorded_by=recorded_by, actor=actor, evidence=evidence
    )
    for plan in hold_plans:
        _apply_hold_start(ctx, plan, recorded_by=recorded_by)
    for hold in holds_to_end:
        _apply_hold_end(ctx, hold)
    return _finish(ctx)


def subscription_unsubscribe(
    *,
    brand: Brand,
    external_id: str,
    topic_slug: str,
    channel: str,
    method: str,
    recorded_by: str,
    occurred_at: datetime | None = None,
    evidence: EvidenceInput | None = None,
) -> PreferencesResult:
    """One topic on one channel (e.g. a one-click unsubscribe link)."""
    return preferences_update(
        brand=brand,
        external_id=external_id,
        method=method,
        recorded_by=recorded_by,
        subscriptions=[SubscriptionChange(topic=topic_slug, channel=channel, status=UNSUBSCRIBED)],
        occurred_at=occurred_at,
        evidence=evidence,
    )


def channel_unsubscribe_all(
    *,
    brand: Brand,
    external_id: str,
    channel: str,
    method: str,
    recorded_by: str,
    occurred_at: datetime | None = None,
    evidence: EvidenceInput | None = None,
) -> PreferencesResult:
    """Every non-transactional topic on the channel; reversible with unsubscribed_all=false or
    by subscribing to a topic there again."""
    return preferences_update(
        brand=brand,
        external_id=external_id,
        method=method,
        recorded_by=recorded_by,
        unsubscribed_all={channel: True},
        occurred_at=occurred_at,
        evidence=evidence,
    )


@transaction.atomic
def subscription_confirm(
    *,
    brand: Brand,
    external_id: str,
    method: str,
    recorded_by: str,
    subscription_ids: Sequence[int] | None = None,
    actor: str = "subject",
    occurred_at: datetime | None = None,
    evidence: EvidenceInput | None = None,
    confirmed_by_link: bool = False,
) -> PreferencesResult:
    """Double opt-in confirmed: pending rows (all of the contact's, or those named) become
    subscribed, and each purpose not yet granted is granted now, with the notice version shown
    when the subscription was asked for and the evidence of the confirmation.

    Rows that no longer read pending (unsubscribed meanwhile, or ended by a later withdrawal)
    and requests older than 72 hours are left alone; confirming twice changes nothing the second
    time. A confirm *link* goes through `subscription_confirm_link`, which says why it fails,
    and sets `confirmed_by_link`: only then may the grant lift a suppression.
    """
    _check_method(method)
    ctx = _begin(brand=brand, external_id=external_id, occurred_at=occurred_at)
    wanted = set(subscription_ids) if subscription_ids is not None else None
    topics = {topic.pk: topic for topic in ctx.snapshot.topics}
    grants: dict[int, _Grant] = {}
    notice_versions = {
        version.pk: version
        for version in NoticeVersion.objects.select_related("notice").filter(
            pk__in=[row.notice_version_id for row in ctx.snapshot.rows.values() if row.status == PENDING]
        )
    }
    # Oldest request first, so a purpose is granted with the notice of its latest request.
    by_request = sorted(ctx.snapshot.rows.items(), key=lambda item: (item[1].occurred_at, item[1].pk))
    for (topic_id, channel), row in by_request:
        topic = topics[topic_id]
        if wanted is not None and row.pk not in wanted:
            continue
        if ctx.snapshot.status(topic, channel) != PENDING or not _applies(row, status=SUBSCRIBED, at=ctx.at):
            continue
        if confirmation_expired(row, now=ctx.now):
            continue  # asked for more than 72 hours ago: the person asks again
        purpose = topic.purpose_for(channel)
        if purpose is not None and not ctx.snapshot.consent_granted(purpose.pk):
            version = notice_versions.get(row.notice_version_id or 0)
            if version is None:
                raise Unprocessable.for_field(
                    "notice_version", f"The pending subscription to '{topic.slug}' names no notice version."
                )
            if version.notice.purpose_id != purpose.pk:  # the topic's purpose changed since
                raise Unprocessable.for_field(
                    "notice_version", f"Notice version '{version.public_id}' belongs to another purpose."
                )
            grants[purpose.pk] = _Grant(purpose, version, channel, proof=_request_proof(row))
        ctx.result.confirmed.append(_write_row(ctx, topic=topic, channel=channel, status=SUBSCRIBED))
    _record_grants(
        ctx,
        grants,
        method=method,
        recorded_by=recorded_by,
        actor=actor,
        evidence=evidence,
        confirmed_opt_in=confirmed_by_link,
    )
    return _finish(ctx)


@transaction.atomic
def hold_start(
    *,
    brand: Brand,
    external_id: str,
    started_by: str,
    recorded_by: str,
    weeks: int | None = None,
    until: datetime | None = None,
    reason: str = "",
    topics: Sequence[str] = (),
    channels: Sequence[str] = (),
    actor: Actor | None = None,
) -> Hold:
    """Pause non-transactional messages: a customer for 1, 2, 4 or 8 weeks, an agent until a
    time, with a reason. Announces `hold.started`. `actor`: a person on the brand's staff (the
    console), whose action the audit log keeps; the customer's own snooze is not audited."""
    ctx = _begin(brand=brand, external_id=external_id, occurred_at=None)
    request = HoldRequest(
        started_by=started_by,
        weeks=weeks,
        until=until,
        reason=reason,
        topics=tuple(topics),
        channels=tuple(channels),
    )
    plan = _plan_hold(ctx, request, "hold")
    hold = _apply_hold_start(ctx, plan, recorded_by=recorded_by)
    if actor is not None:
        audit_record(
            brand=brand,
            actor=actor,
            action=AuditAction.HOLD_STARTED,
            target_type="contact",
            target_id=str(ctx.contact.pk),  # the pseudonym the outbox uses, never an address
            after={
                "hold": hold.public_id,
                "until": hold.until,
                "topics": [topic.slug for topic in plan.topics],
                "channels": list(hold.channels),
                "started_by": hold.started_by,
            },
            reason=hold.reason,
        )
    _finish(ctx)
    return hold


@transaction.atomic
def hold_end(*, brand: Brand, external_id: str, hold_id: str, actor: Actor | None = None) -> Hold:
    """End a hold early. Ending one that has already ended changes nothing (and, with `actor`,
    writes no audit entry)."""
    ctx = _begin(brand=brand, external_id=external_id, occurred_at=None)
    [hold] = _plan_hold_ends(ctx, [hold_id], "hold")
    _apply_hold_end(ctx, hold)
    if actor is not None and hold in ctx.result.holds_ended:
        audit_record(
            brand=brand,
            actor=actor,
            action=AuditAction.HOLD_ENDED,
            target_type="contact",
            target_id=str(ctx.contact.pk),
            before={"hold": hold.public_id, "until": hold.until, "ended_at": None},
            after={"hold": hold.public_id, "ended_at": hold.ended_at, "end_reason": str(hold.end_reason)},
        )
    _finish(ctx)
    return hold


def holds_end_expired(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Mark holds whose `until` has passed as ended and announce `hold.ended` for each.

    For the periodic task. Each contact's holds end in their own transaction under the
    contact's lock; a hold claimed by a concurrent run is skipped, so running twice is safe.
    Returns how many holds it ended.
    """
    now = now or timezone.now()
    due = list(
        Hold.objects.filter(ended_at__isnull=True, until__lte=now)
        .order_by("until", "pk")
        .values_list("contact_id", flat=True)[:batch_size]
    )
    ended = 0
    for contact_id in dict.fromkeys(due):
        ended += _holds_end_expired_for(contact_id=contact_id, now=now)
    return ended


@transaction.atomic
def _holds_end_expired_for(*, contact_id: int, now: datetime) -> int:
    contact = Contact.objects.select_for_update().select_related("brand").get(pk=contact_id)
    holds = Hold.objects.filter(contact=contact, ended_at__isnull=True, until__lte=now).order_by(
        "until", "pk"
    )
    entries = [outgoing for hold in holds if (outgoing := _end_hold(hold, now=now)) is not None]
    _emit(brand=contact.brand, contact=contact, entries=entries)
    return len(entries)


# --- Double opt-in ---------------------------------------------------------------------------


def confirmation_requests_forget(*, now: datetime | None = None) -> int:
    """Clear the sign-up IP and user agent kept on double opt-in requests that can no longer
    be confirmed (CONFIRMATION_LIFETIME after they began): they were kept only as the proof of
    a confirmation that never came. For the periodic task; how many rows it cleared."""
    cutoff = (now or timezone.now()) - CONFIRMATION_LIFETIME
    began_before = Q(confirmation_requested_at__lt=cutoff) | Q(
        confirmation_requested_at__isnull=True, occurred_at__lt=cutoff
    )
    kept = ~Q(confirmation_request_ip="") | ~Q(confirmation_request_user_agent="")
    return Subscription.objects.filter(began_before, kept, status=PENDING).update(
        confirmation_request_ip="", confirmation_request_user_agent=""
    )


class ConfirmationUsed(Conflict):
    code = "confirmation-used"
    title = "Confirmation link already used"


class ConfirmationExpired(ApplicationError):
    status = 410
    code = "confirmation-expired"
    title = "Confirmation link expired"


class ConfirmationTooSoon(ApplicationError):
    status = 429
    code = "too-many-requests"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after  # seconds, for a Retry-After header


def _confirmation_schedule(
    *,
    brand: Brand,
    contact: Contact,
    rows: Sequence[Subscription],
    confirm_url_builder: ConfirmUrlBuilder,
    now: datetime,
) -> list[Subscription]:
    """Claim the email rows whose confirmation is due (never sent, or sent 10 minutes ago or
    more) and send one email for them after commit. The caller holds the contact's lock."""
    due = [
        row
        for row in rows
        if row.channel == Channel.EMAIL
        and row.status == PENDING
        and (
            row.confirmation_sent_at is None or row.confirmation_sent_at + CONFIRMATION_RESEND_INTERVAL <= now
        )
    ]
    if not due or not contact.email:
        return []
    Subscription.objects.filter(pk__in=[row.pk for row in due]).update(confirmation_sent_at=now)
    for row in due:
        row.confirmation_sent_at = now
    row_ids = [row.pk for row in due]
    transaction.on_commit(
        lambda: _confirmation_send_quietly(
            brand=brand, contact=contact, row_ids=row_ids, confirm_url_builder=confirm_url_builder
        )
    )
    return due


def _confirmation_send_quietly(
    *, brand: Brand, contact: Contact, row_ids: list[int], confirm_url_builder: ConfirmUrlBuilder
) -> None:
    """After commit: a failed send must not fail the request that already committed. The person
    can ask for a resend in 10 minutes. The log names the contact's id, never its address."""
    try:
        confirmation_send(
            brand=brand,
            contact=contact,
            pending_rows=Subscription.objects.filter(pk__in=row_ids),
            confirm_url_builder=confirm_url_builder,
        )
    except Exception as exc:
        logger.warning("confirmation email for contact %s not sent: %s", contact.pk, type(exc).__name__)


@transaction.atomic
def confirmation_schedule(
    *,
    brand: Brand,
    contact: Contact,
    rows: Sequence[Subscription],
    confirm_url_builder: ConfirmUrlBuilder,
) -> list[Subscription]:
    """For a caller that has already run `preferences_update`: send the confirmation email for
    `rows` (its `result.pending`) after commit, under the same rules (email rows still pending,
    not mailed in the last 10 minutes). Returns the rows it will mail."""
    locked = Contact.objects.select_for_update().filter(pk=contact.pk, brand=brand).first()
    if locked is None or locked.erased_at is not None:
        return []
    current = list(Subscription.objects.filter(pk__in=[row.pk for row in rows], contact=locked))
    return _confirmation_schedule(
        brand=brand, contact=locked, rows=current, confirm_url_builder=confirm_url_builder, now=timezone.now()
    )


@transaction.atomic
def preferences_update_with_confirmation(
    *, confirm_url_builder: ConfirmUrlBuilder, **changes: Any
) -> PreferencesResult:
    """`preferences_update` (same keyword arguments), then the confirmation email for the rows it
    left pending, sent after commit. Rows whose email went out less than 10 minutes ago are not
    mailed again (asking twice must not flood an inbox); `result.pending` still lists them."""
    result = preferences_update(**changes)
    _confirmation_schedule(
        brand=changes["brand"],
        contact=result.contact,
        rows=result.pending,
        confirm_url_builder=confirm_url_builder,
        now=timezone.now(),
    )
    return result


# --- A whole sign-up ---------------------------------------------------------------------------


@dataclass
class SignupResult:
    contact: Contact
    created: bool
    consent_events: list[ConsentEvent]  # the decisions given, then grants the subscriptions made
    preferences: PreferencesResult | None  # None when no subscription was named


@transaction.atomic
def contact_signup(
    *,
    brand: Brand,
    external_id: str,
    method: str,
    recorded_by: str,
    confirm_url_builder: ConfirmUrlBuilder,
    contact_fields: Mapping[str, Any] | None = None,
    consents: Sequence[ConsentDecision] = (),
    subscriptions: Sequence[SubscriptionChange] = (),
    actor: str = "subject",
    occurred_at: datetime | None = None,
    evidence: EvidenceInput | None = None,
) -> SignupResult:
    """A whole sign-up in one transaction: create or update the contact and record each consent
    decision (`contact_upsert_and_decide`: `contact_upsert`, which locks the contact, then
    `consents_append`), then change the subscriptions
    (`preferences_update_with_confirmation`: a topic with double opt-in stays pending and its
    confirmation email goes out after commit). The same services as the separate calls, so the
    same checks, ledger rows and outbox events. Everything or nothing: a refusal names the part
    of the request (`contact.email`, `consents.1.notice_version`, `subscriptions.0.topic`, as the
    body's own validation names them).

    `contact_fields` takes contact_upsert's keyword arguments (email, phone, locale,
    timezone_name, jurisdiction). `method`, `actor`, `occurred_at` and `evidence` apply to every
    decision in it.
    """
    _check_method(method)
    now = timezone.now()
    at = occurred_at or now
    if at > now + timedelta(seconds=settings.CONSENT_CLOCK_SKEW_SECONDS):
        raise Unprocessable.for_field("occurred_at", "occurred_at lies in the future.")
    contact, created, events = contact_upsert_and_decide(
        brand=brand,
        external_id=external_id,
        decisions=consents,
        method=method,
        recorded_by=recorded_by,
        actor=actor,
        occurred_at=at,
        now=now,
        evidence=evidence,
        **(contact_fields or {}),
    )
    preferences = None
    if subscriptions:
        preferences = preferences_update_with_confirmation(
            confirm_url_builder=confirm_url_builder,
            brand=brand,
            external_id=external_id,
            method=method,
            recorded_by=recorded_by,
            subscriptions=subscriptions,
            actor=actor,
            occurred_at=at,
            evidence=evidence,
        )
        events += preferences.consent_events
    return SignupResult(contact=contact, created=created, consent_events=events, preferences=preferences)


@transaction.atomic
def confirmation_resend(
    *, brand: Brand, contact: Contact, topic_slug: str, confirm_url_builder: ConfirmUrlBuilder
) -> list[Subscription]:
    """Send the confirmation email for the contact's pending email subscription to the topic
    again, at most once per 10 minutes (ConfirmationTooSoon carries the seconds to wait).

    The request keeps its start: links in earlier emails stay good, and after 72 hours the
    request has expired (ConfirmationExpired) and the person subscribes again instead.
    """
    ctx = _begin(brand=brand, external_id=contact.external_id, occurred_at=None)
    topic = next((topic for topic in ctx.snapshot.topics if topic.slug == topic_slug), None)
    if topic is None:
        raise Unprocessable.for_field("topic", f"Unknown topic '{topic_slug}'.")
    row = ctx.snapshot.rows.get((topic.pk, Channel.EMAIL))
    if row is None or ctx.snapshot.status(topic, Channel.EMAIL) != PENDING:
        raise Unprocessable.for_field("topic", f"Nothing awaits confirmation for '{topic_slug}' by email.")
    if not ctx.contact.email:
        raise Unprocessable.for_field(
            "email", "The contact has no email address to send the confirmation to."
        )
    if confirmation_expired(row, now=ctx.now):
        raise ConfirmationExpired(
            f"The request to subscribe to '{topic_slug}' is more than 72 hours old; subscribe again."
        )
    if row.confirmation_sent_at is not None:
        wait = row.confirmation_sent_at + CONFIRMATION_RESEND_INTERVAL - ctx.now
        if wait > timedelta(0):
            raise ConfirmationTooSoon(
                "The confirmation email was sent moments ago; try again in a few minutes.",
                retry_after=math.ceil(wait.total_seconds()),
            )
    row.topic = topic
    return _confirmation_schedule(
        brand=brand, contact=ctx.contact, rows=[row], confirm_url_builder=confirm_url_builder, now=ctx.now
    )


@transaction.atomic
def subscription_confirm_link(
    *,
    brand: Brand,
    contact: Contact,
    topic_id: int,
    channel: str,
    issued_at: datetime,
    recorded_by: str,
    method: str = Method.PREFERENCE_CENTRE,
    evidence: EvidenceInput | None = None,
) -> PreferencesResult:
    """A confirm link (its topic, channel and issue time) was POSTed: confirm that one row and
    record the grant with the evidence of this request.

    A link works once and only for the request it was sent for: ConfirmationUsed when the row
    is no longer pending (confirmed by this link before, unsubscribed, or ended by a withdrawal)
    or the link was issued before the current request began; ConfirmationExpired 72 hours
    after the request began. Either way nothing is written.
    """
    ctx = _begin(brand=brand, external_id=contact.external_id, occurred_at=None)
    topic = next((topic for topic in ctx.snapshot.topics if topic.pk == topic_id), None)
    row = ctx.snapshot.rows.get((topic_id, channel)) if topic is not None else None
    if topic is None or row is None:
        raise ConfirmationUsed("This confirmation link is not valid any more: nothing awaits confirmation.")
    if row.status == SUBSCRIBED:
        raise ConfirmationUsed("This confirmation link was already used: the subscription is confirmed.")
    if ctx.snapshot.status(topic, channel) != PENDING:
        raise ConfirmationUsed("This confirmation link is not valid any more: nothing awaits confirmation.")
    if issued_at < confirmation_requested_at(row).replace(microsecond=0):  # links carry whole seconds
        raise ConfirmationUsed("This confirmation link belongs to an earlier request; use the newest email.")
    if confirmation_expired(row, now=ctx.now):
        raise ConfirmationExpired("This confirmation link has expired (after 72 hours); subscribe again.")
    result = subscription_confirm(
        brand=brand,
        external_id=contact.external_id,
        method=method,
        recorded_by=recorded_by,
        subscription_ids=[row.pk],
        evidence=evidence,
        confirmed_by_link=True,
    )
    if not result.confirmed:  # an older decision stands (conflict rule)
        raise ConfirmationUsed("This confirmation link is not valid any more: nothing awaits confirmation.")
    return result


# --- Withdrawals without a topic (Global Privacy Control) ---------------------------------------


@transaction.atomic
def purposes_withdraw(
    *,
    brand: Brand,
    external_id: str,
    purpose_slugs: Sequence[str],
    method: str,
    recorded_by: str,
    actor: str = "subject",
    evidence: EvidenceInput | None = None,
) -> PreferencesResult:
    """Record a withdrawal for each named purpose that is not withdrawn already (granted,
    expired, or never decided: an opt-out is recorded before anything is asked), under the
    contact's lock. Topics of those purposes then read unsubscribed; `preferences.updated`
    says so. Purposes already withdrawn are left alone, so repeating it writes nothing."""
    _check_method(method)
    ctx = _begin(brand=brand, external_id=external_id, occurred_at=None)
    wanted = list(dict.fromkeys(purpose_slugs))
    purposes = {purpose.slug: purpose for purpose in Purpose.objects.filter(brand=brand, slug__in=wanted)}
    unknown = [slug for slug in wanted if slug not in purposes]
    if unknown:
        raise Unprocessable.for_field("purposes", f"Unknown purpose(s) {unknown}.")
    for slug in wanted:
        state = ctx.snapshot.states.get(purposes[slug].pk)
        if state is not None and state.decision == Decision.WITHDRAWN:
            continue
        _record(
            ctx,
            purpose=purposes[slug],
            decision=Decision.WITHDRAWN,
            notice_version=None,
            method=method,
            recorded_by=recorded_by,
            actor=actor,
            evidence=evidence,
        )
    return _finish(ctx)


@transaction.atomic
def sms_opt_out(
    *, brand: Brand, external_id: str, recorded_by: str, evidence: EvidenceInput, occurred_at: datetime
) -> dict[str, Any]:
    """A STOP texted back (TCPA, FCC 24-24): every non-transactional topic on SMS ends, the channel
    is opted out, and each purpose texts need is withdrawn in the ledger with the message as
    evidence (a dedicated SMS purpose even if it was never granted, so the reply itself is on
    record). Returns what ended, for a later START from the same number."""
    ctx = _begin(brand=brand, external_id=external_id, occurred_at=occurred_at)
    was_active = [
        (topic, topic.purpose_for(Channel.SMS))
        for topic in ctx.snapshot.topics
        if not topic.transactional
        and Channel.SMS in topic.channels
        and ctx.snapshot.status(topic, Channel.SMS) in (SUBSCRIBED, PENDING)
    ]
    granted_versions = {
        state.purpose_id: state.notice_version_id
        for state in ctx.snapshot.states.values()
        if state.decision == Decision.GRANTED and state.notice_version_id is not None
    }
    unsubscribed = _apply_opt_out(ctx, Channel.SMS)
    dedicated = {
        topic.sms_purpose.pk: topic.sms_purpose
        for topic in ctx.snapshot.topics
        if topic.sms_purpose is not None and not topic.transactional
    }
    for purpose_id, purpose in dedicated.items():
        state = ctx.snapshot.states.get(purpose_id)
        unsubscribed.pop(purpose_id, None)
        if state is None or state.decision != Decision.WITHDRAWN:
            _record(
                ctx,
                purpose=purpose,
                decision=Decision.WITHDRAWN,
                notice_version=None,
                method=Method.SMS,
                recorded_by=recorded_by,
                actor="subject",
                evidence=evidence,
            )
    _withdraw_if_last(
        ctx, unsubscribed, method=Method.SMS, recorded_by=recorded_by, actor="subject", evidence=evidence
    )
    withdrawn = {event.purpose_id for event in ctx.result.consent_events}
    versions = dict(
        NoticeVersion.objects.filter(
            pk__in=[granted_versions[pid] for pid in withdrawn if pid in granted_versions]
        ).values_list("pk", "public_id")
    )
    _finish(ctx)
    return {
        "rows": [topic.slug for topic, _ in was_active],
        "notice_versions": {
            str(purpose.pk): versions[granted_versions[purpose.pk]]
            for _, purpose in was_active
            if purpose is not None and granted_versions.get(purpose.pk) in versions
        },
    }
