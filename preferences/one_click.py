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
from datetime import datetime
from time import monotonic
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from brands.models import Brand
from config.db import insert_from_arrays
from config.errors import ApplicationError
from consent.models import Contact, Method
from consent.services import EvidenceInput
from preferences.models import PendingUnsubscribe, Topic
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
