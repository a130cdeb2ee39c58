"""Webhook endpoints: creating, changing, disabling and deleting them, rotating their secret,
and sending one a test message."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mass_mail
from django.db import transaction
from django.utils import timezone

from brands.audit import Actor, AuditAction, audit_diff
from brands.models import Brand, Membership
from brands.services import audit_record
from config.errors import Conflict, Unprocessable
from sync.delivery import selectors
from sync.delivery.bodies import delivery_body
from sync.delivery.broker import publish
from sync.delivery.ssrf import url_normalise
from sync.models import Delivery, Endpoint, EventType, new_webhook_secret
from sync.outbox import feed
from sync.outbox.events import brand_event_record
from sync.outbox.serializers import timestamp

logger = logging.getLogger(__name__)

ROTATION_OVERLAP = timedelta(hours=24)
# Sent by POST …/{id}/test to that endpoint only; not an outbox event and not in the feed.
TEST_EVENT_TYPE = "webhook.test"


def audit_url(url: str) -> str:
    """The URL as the audit log shows it: without query or fragment (either may hold a token)
    and without user info; a left-out query is marked so a change of it still shows."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}{'?…' if parts.query else ''}"


def _audited(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "url": audit_url(endpoint.url),
        "description": endpoint.description,
        "event_types": list(endpoint.event_types),
        "include_personal_data": endpoint.include_personal_data,
        "pseudonymous_contacts": endpoint.pseudonymous_contacts,
    }


def _endpoints_changed(brand_id: int) -> None:
    """After COMMIT, forget the cached list of the brand's active endpoints."""
    key = selectors.endpoints_cache_key(brand_id)
    transaction.on_commit(lambda: cache.delete(key))


def _checked(*, url: str | None = None, event_types: Collection[str] | None = None) -> str | None:
    """The URL in its canonical form (the one stored and sent to), after checking every field
    given; Unprocessable naming each bad one."""
    errors: dict[str, list[str]] = {}
    canonical = None
    if url is not None:
        canonical, problems = url_normalise(url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE)
        if problems:
            errors["url"] = list(problems)
    if event_types is not None:
        unknown = sorted(set(event_types) - set(EventType.values))
        if unknown:
            errors["event_types"] = [
                f"Unknown event type(s): {', '.join(unknown)}. Known: {', '.join(EventType.values)}."
            ]
    if errors:
        raise Unprocessable("The endpoint has invalid fields; see errors.", errors=errors)
    return canonical


@transaction.atomic
def endpoint_create(
    *,
    brand: Brand,
    actor: Actor,
    url: str,
    description: str = "",
    event_types: Collection[str] = (),
    include_personal_data: bool = False,
    pseudonymous_contacts: bool = False,
) -> Endpoint:
    """A new active endpoint with a fresh secret (endpoint.secret: show it to the caller once).

    Its cursor starts at the end of the brand's feed: no history is sent.
    """
    canonical = _checked(url=url, event_types=event_types)
    assert canonical is not None  # a url was given
    end = feed.feed_end(brand=brand)
    endpoint = Endpoint.objects.create(
        brand=brand,
        url=canonical,
        description=description,
        event_types=sorted(set(event_types)),
        include_personal_data=include_personal_data,
        pseudonymous_contacts=pseudonymous_contacts,
        cursor_txid=end.txid,
        cursor_id=end.id,
    )
    _endpoints_changed(brand.pk)
    audit_record(
        brand=brand,
        actor=actor,
        action=AuditAction.ENDPOINT_CREATED,
        target_type="endpoint",
        target_id=endpoint.public_id,
        after={**_audited(endpoint), "status": endpoint.status},
    )
    return endpoint


@transaction.atomic
def endpoint_update(
    *,
    endpoint: Endpoint,
    actor: Actor,
    url: str | None = None,
    description: str | None = None,
    event_types: Collection[str] | None = None,
    status: str | None = None,
    include_personal_data: bool | None = None,
    pseudonymous_contacts: bool | None = None,
) -> Endpoint:
    """Change the fields given. Enabling resumes where the endpoint stopped, so events written
    while it was disabled are delivered (within the feed's retention) and none is lost."""
    canonical = _checked(url=url, event_types=event_types)
    locked = Endpoint.objects.select_for_update().select_related("brand").get(pk=endpoint.pk)
    fields: dict[str, Any] = {}
    if canonical is not None:
        fields["url"] = canonical
    if description is not None:
        fields["description"] = description
    if event_types is not None:
        fields["event_types"] = sorted(set(event_types))
    if include_personal_data is not None:
        fields["include_personal_data"] = include_personal_data
    if pseudonymous_contacts is not None:
        fields["pseudonymous_contacts"] = pseudonymous_contacts
    audited_before = _audited(locked)
    status_before = locked.status
    if status is not None and status != locked.status:
        if status == Endpoint.Status.DISABLED:
            reason = "Disabled through the API."
            fields.update(status=status, disabled_reason=reason, disabled_at=timezone.now())
        else:
            fields.update(status=status, disabled_reason="", disabled_at=None, failing_since=None)
        _endpoints_changed(locked.brand_id)
    if fields:
        Endpoint.objects.filter(pk=locked.pk).update(**fields)
        for name, value in fields.items():
            setattr(locked, name, value)
            setattr(endpoint, name, value)
    changed_before, changed_after = audit_diff(audited_before, _audited(locked))
    if changed_after:
        audit_record(
            brand=locked.brand,
            actor=actor,
            action=AuditAction.ENDPOINT_UPDATED,
            target_type="endpoint",
            target_id=locked.public_id,
            before=changed_before,
            after=changed_after,
        )
    if locked.status != status_before:
        disabled = locked.status == Endpoint.Status.DISABLED
        audit_record(
            brand=locked.brand,
            actor=actor,
            action=AuditAction.ENDPOINT_DISABLED if disabled else AuditAction.ENDPOINT_ENABLED,
            target_type="endpoint",
            target_id=locked.public_id,
            before={"status": status_before},
            after={"status": locked.status},
            reason=locked.disabled_reason if disabled else "",
        )
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint: Endpoint, actor: Actor) -> None:
    """Remove the endpoint with its delivery log."""
    locked = Endpoint.objects.select_for_update().select_related("brand").filter(pk=endpoint.pk).first()
    if locked is None:
        return  # already gone
    _endpoints_changed(locked.brand_id)
    before = {"url": audit_url(locked.url), "status": locked.status}
    locked.delete()
    audit_record(
        brand=locked.brand,
        actor=actor,
        action=AuditAction.ENDPOINT_DELETED,
        target_type="endpoint",
        target_id=locked.public_id,
        before=before,
    )


@transaction.atomic
def endpoint_secret_rotate(*, endpoint: Endpoint, actor: Actor) -> Endpoint:
    """A new secret (show it once); the current one keeps signing beside it for 24 hours."""
    now = timezone.now()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + ROTATION_OVERLAP
    endpoint.secret = new_webhook_secret()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    audit_record(
        brand=endpoint.brand,
        actor=actor,
        action=AuditAction.ENDPOINT_SECRET_ROTATED,
        target_type="endpoint",
        target_id=endpoint.public_id,
        after={"previous_secret_expires_at": endpoint.previous_secret_expires_at},
    )
    return endpoint


@transaction.atomic
def endpoint_disable(*, endpoint_id: int, reason: str, automatic: bool, actor: Actor) -> bool:
    """Disable an active endpoint; True if this call did. When Candor decided it (410, or days
    of failures) the brand is told: an endpoint.disabled event and an email to its owners."""
    now = timezone.now()
    changed = Endpoint.objects.filter(pk=endpoint_id, status=Endpoint.Status.ACTIVE).update(
        status=Endpoint.Status.DISABLED, disabled_reason=reason[:300], disabled_at=now
    )
    if not changed:
        return False
    endpoint = Endpoint.objects.select_related("brand").get(pk=endpoint_id)
    _endpoints_changed(endpoint.brand_id)
    audit_record(
        brand=endpoint.brand,
        actor=actor,
        action=AuditAction.ENDPOINT_DISABLED,
        target_type="endpoint",
        target_id=endpoint.public_id,
        before={"status": Endpoint.Status.ACTIVE.value},
        after={"status": Endpoint.Status.DISABLED.value},
        reason=reason[:300],
    )
    if automatic:
        logger.warning("webhook endpoint %s disabled: %s", endpoint.public_id, reason)
        brand_event_record(
            brand=endpoint.brand,
            type=EventType.ENDPOINT_DISABLED,
            data={"endpoint": endpoint.public_id, "reason": reason, "disabled_at": timestamp(now)},
            now=now,
        )
        transaction.on_commit(lambda: _owners_notify(endpoint_id=endpoint_id))
    return True


def _owners_notify(*, endpoint_id: int) -> None:
    """A plain email to each owner of the brand that its endpoint was disabled."""
    endpoint = Endpoint.objects.select_related("brand").filter(pk=endpoint_id).first()
    if endpoint is None:
        return
    brand = endpoint.brand
    owners = Membership.objects.filter(brand=brand, role=Membership.Role.OWNER).exclude(user__email="")
    recipients = sorted(set(owners.values_list("user__email", flat=True)))
    if not recipients:
        return
    parts = urlsplit(endpoint.url)
    shown_url = f"{parts.scheme}://{parts.netloc}{parts.path}"  # no query: it may hold a token
    subject = f"[Candor] Webhook endpoint disabled for {brand.name}"
    message = (
        f"Candor disabled a webhook endpoint of {brand.name} ({brand.slug}).\n\n"
        f"Endpoint: {endpoint.public_id}\n"
        f"URL: {shown_url}\n"
        f"Reason: {endpoint.disabled_reason}\n\n"
        "Events are kept: once the receiver works again, enable the endpoint (PATCH "
        f"/api/v1/endpoints/{endpoint.public_id} with status active) and it resumes where it "
        "stopped. The delivery log (GET …/deliveries) shows every attempt.\n"
    )
    try:
        send_mass_mail([(subject, message, None, [address]) for address in recipients])
    except Exception as exc:
        logger.warning("could not email the owners of %s (%s)", brand.slug, type(exc).__name__)


@transaction.atomic
def endpoint_test_send(*, endpoint: Endpoint, actor: Actor) -> Delivery:
    """Queue a webhook.test message for this endpoint alone (whatever its event filter). It is a
    Delivery with no outbox event: it is not in the feed and no other endpoint gets it."""
    if endpoint.status != Endpoint.Status.ACTIVE:
        raise Conflict("The endpoint is disabled; enable it before sending a test message.")
    now = timezone.now()
    data = {"endpoint": endpoint.public_id, "message": "A test message from Candor."}
    delivery = Delivery.objects.create(
        endpoint=endpoint,
        event=None,
        msg_id=f"msg_{uuid.uuid4().hex}",
        type=TEST_EVENT_TYPE,
        contact_ref=None,
        sequence=0,
        body=delivery_body(type=TEST_EVENT_TYPE, created_at=now, data=data, personal=False),
        next_attempt_at=now,
        enqueued_at=now,
    )
    audit_record(
        brand=endpoint.brand,
        actor=actor,
        action=AuditAction.ENDPOINT_TEST_SENT,
        target_type="endpoint",
        target_id=endpoint.public_id,
        after={"delivery": delivery.public_id},
    )
    transaction.on_commit(lambda: publish("delivery_send", delivery.pk))
    return delivery
