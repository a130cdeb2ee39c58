"""One-click unsubscribe (RFC 8058): accepted durably at once, applied within seconds.

A mailbox provider's POST must be answered quickly and never lost. Accepting it is one
statement: check that the link's brand, contact and topic still hold, and insert a
`PendingUnsubscribe`. Applying it is the ordinary preference write (lock the contact; the
subscription, ledger and outbox in one transaction), dated when the person clicked, so a newer
choice made in between still wins under the conflict rule. A worker applies it: nudged right
after the request (at most once a second per process, since a broker publish costs more than
the insert) and swept by beat every few seconds, so a request accepted while the broker or
the worker was down is applied when they are back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import monotonic
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Count, Min
from django.utils import timezone

from brands.models import Brand
from config.db import insert_from_arrays
from config.errors import ApplicationError
from consent.models import Contact, Method
from consent.services import EvidenceInput
from preferences.models import PendingUnsubscribe, Topic, UnsubscribeDelayAlert
from preferences.services import channel_unsubscribe_all, subscription_unsubscribe
from preferences.tokens import LinkToken

logger = logging.getLogger(__name__)

RECORDED_BY_LINK = "hosted:unsubscribe-link"

_pending = PendingUnsubscribe._meta.db_table
_brand = Brand._meta.db_table
_contact = Contact._meta.db_table
_topic = Topic._meta.db_table


@dataclass(frozen=True)
class Accepted:
    """What the reply needs to speak the contact's language."""

    locale: str
    default_language: str


def _target_sql(claims: LinkToken, channel: str) -> tuple[str, list[Any]]:
    """SELECT the brand and contact a link names, if they still hold: the brand has this slug
    (checked by the caller's parameter order), the contact is the brand's and not erased, and a
    topic, if named, is the brand's, not transactional and offered on the channel."""
    sql = (
        "SELECT c.brand_id, c.id, c.locale, b.default_language "  # noqa: S608
        f"FROM {_contact} c JOIN {_brand} b ON b.id = c.brand_id "
        "WHERE b.slug = %s AND b.id = %s AND c.id = %s AND c.erased_at IS NULL"
    )
    params: list[Any] = [claims.brand_id, claims.contact_id]
    if claims.topic_id is not None:
        sql += (
            f" AND EXISTS (SELECT 1 FROM {_topic} t WHERE t.id = %s AND t.brand_id = b.id "  # noqa: S608
            "AND NOT t.transactional AND t.channels @> to_jsonb(%s::text))"
        )
        params += [claims.topic_id, channel]
    return sql, params


def one_click_accept(
    *, brand_slug: str, claims: LinkToken, evidence: EvidenceInput, now: datetime | None = None
) -> Accepted | None:
    """Record the unsubscribe the link asks for, to be applied by `one_click_apply_pending`.
    None when the link's brand, contact or topic no longer hold (the caller answers 404).

    One statement. Repeating a request adds a row; applying it again changes
    nothing, so a provider's retries are harmless."""
    channel = claims.channel or "email"
    target, target_params = _target_sql(claims, channel)
    params = [brand_slug, *target_params]
    requested_at = now or timezone.now()
    pending = PendingUnsubscribe(
        topic_id=claims.topic_id,
        channel=channel,
        requested_at=requested_at,
        ip=evidence.ip,
        user_agent=evidence.user_agent[:512],
        page_url=evidence.page_url[:512],
    )
    insert, insert_params = insert_from_arrays(
        PendingUnsubscribe,
        [pending],
        given={"brand_id": "target.brand_id", "contact_id": "target.id"},
        sources="target, ",
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH target AS ({target}), accepted AS ({insert} RETURNING id) "  # noqa: S608
            "SELECT target.locale, target.default_language FROM target, accepted",
            [*params, *insert_params],
        )
        row = cursor.fetchone()
    return Accepted(locale=row[0], default_language=row[1]) if row else None


_last_nudge = 0.0


def one_click_nudge(*, publish: Callable[[], object]) -> None:
    """Ask a worker to apply what was accepted, once the transaction (if any) commits; at most
    once per ONE_CLICK_NUDGE_SECONDS in this process. `publish` sends the ask: the caller passes
    `preferences.tasks.one_click_apply.delay` (the tasks import this module, not the reverse).
    Never raises: with the broker down the request stays accepted and beat's sweep applies it
    later."""
    global _last_nudge
    now = monotonic()
    if now - _last_nudge < settings.ONE_CLICK_NUDGE_SECONDS:
        return
    _last_nudge = now

    def publish_quietly() -> None:
        try:
            publish()
        except Exception:  # the broker is down: the sweep picks it up
            logger.warning("Could not nudge the one-click worker; beat's sweep will apply the request.")

    transaction.on_commit(publish_quietly)


def _apply(pending: PendingUnsubscribe) -> None:
    evidence = EvidenceInput(ip=pending.ip, user_agent=pending.user_agent, page_url=pending.page_url)
    common = {
        "brand": pending.brand,
        "external_id": pending.contact.external_id,
        "channel": pending.channel,
        "method": Method.ONE_CLICK.value,
        "recorded_by": RECORDED_BY_LINK,
        "occurred_at": pending.requested_at,
        "evidence": evidence,
    }
    try:
        with transaction.atomic():
            if pending.topic is None:
                channel_unsubscribe_all(**common)  # type: ignore[arg-type]
            else:
                subscription_unsubscribe(topic_slug=pending.topic.slug, **common)  # type: ignore[arg-type]
    except ApplicationError as exc:  # erased, or the topic changed since: nothing left to apply
        logger.info("One-click unsubscribe %s not applied: %s", pending.pk, type(exc).__name__)


def one_click_apply_pending(*, limit: int = 1000) -> int:
    """Apply accepted one-click unsubscribes, oldest first; returns how many were handled.

    Each row goes in the transaction that applies it, so a worker dying half-way leaves it for
    the next run; rows are claimed with SKIP LOCKED, so several workers can run this at once."""
    handled = 0
    while handled < limit:
        with transaction.atomic():
            pending = (
                PendingUnsubscribe.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("brand", "contact", "topic")
                .order_by("id")
                .first()
            )
            if pending is None:
                break
            _apply(pending)
            pending.delete()
        handled += 1
    return handled


@dataclass(frozen=True)
class UnsubscribeBacklog:
    waiting: int  # accepted one-click unsubscribes not yet applied
    oldest_seconds: int  # how long the oldest has waited (0 when none)
    delayed: bool  # the oldest waited longer than UNSUBSCRIBE_DELAY_ALERT_SECONDS


def unsubscribe_delay_check(*, now: datetime | None = None) -> UnsubscribeBacklog:
    """Raise the alert when an accepted unsubscribe has waited longer than the setting (the
    worker is down or failing), once per incident: one ERROR log line and one email to
    OPS_ALERT_EMAIL; clear it when the backlog is back under the limit. Called by beat's task
    and by /readyz (which runs when no worker does). The raise and the clear are conditional
    UPDATEs, so concurrent callers alert once. The message names counts, never an address."""
    now = now or timezone.now()
    found = PendingUnsubscribe.objects.aggregate(waiting=Count("id"), oldest=Min("requested_at"))
    oldest_seconds = max(0, int((now - found["oldest"]).total_seconds())) if found["oldest"] else 0
    limit = timedelta(seconds=settings.UNSUBSCRIBE_DELAY_ALERT_SECONDS)
    backlog = UnsubscribeBacklog(
        waiting=found["waiting"],
        oldest_seconds=oldest_seconds,
        delayed=found["oldest"] is not None and now - found["oldest"] > limit,
    )
    alert = UnsubscribeDelayAlert.objects.filter(pk=1)
    if backlog.delayed:
        UnsubscribeDelayAlert.objects.get_or_create(pk=1)
        if alert.filter(raised_at__isnull=True).update(raised_at=now):
            _unsubscribe_delay_alert_send(backlog)
    elif alert.filter(raised_at__isnull=False).update(raised_at=None):
        logger.warning("One-click unsubscribes are applied again: the delay alert is cleared.")
    return backlog


def _unsubscribe_delay_alert_send(backlog: UnsubscribeBacklog) -> None:
    text = (
        f"{backlog.waiting} accepted one-click unsubscribe(s) wait to be applied; the oldest for "
        f"{backlog.oldest_seconds} s (limit {settings.UNSUBSCRIBE_DELAY_ALERT_SECONDS} s). "
        "Is the Celery worker running?"
    )
    logger.error("Unsubscribe delay: %s", text)
    if not settings.OPS_ALERT_EMAIL:
        return
    try:
        send_mail(
            subject="[Candor] One-click unsubscribes are delayed",
            message=f"{text}\n\nThis alert goes out once; /readyz shows when it clears.",
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=list(settings.OPS_ALERT_EMAIL),
        )
    except Exception as exc:  # the log line above stands; a mail failure must not fail the caller
        logger.warning("Unsubscribe delay alert email not sent: %s", type(exc).__name__)
