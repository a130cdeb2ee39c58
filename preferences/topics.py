"""Every write to a brand's topics: create, change, delete, each audited. A contact's choices about
a topic are preferences.services' (a topic changed keeps them as they are)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from brands.audit import Actor, AuditAction, audit_diff, audit_fields
from brands.models import Brand
from brands.services import audit_record
from config.errors import Conflict
from config.services import UNSET, fields_update, model_clean
from consent.models import Purpose
from preferences.models import Channel, Hold, PendingUnsubscribe, Subscription, Topic

_TOPIC_INVALID = "The topic is not valid; see errors."
# What a topic's audit entries show of it (brands.audit.AuditAction.TOPIC_*); purposes by slug.
TOPIC_AUDITED = (
    "name",
    "purpose",
    "sms_purpose",
    "description",
    "translations",
    "transactional",
    "default_subscribed",
    "channels",
    "cadence_options",
    "double_opt_in",
    "position",
)


@transaction.atomic
def topic_create(
    *,
    brand: Brand,
    actor: Actor,
    slug: str,
    name: str,
    purpose: Purpose | None = None,
    sms_purpose: Purpose | None = None,
    description: str = "",
    translations: dict[str, dict[str, str]] | None = None,
    transactional: bool = False,
    default_subscribed: bool = False,
    channels: Sequence[str] = (Channel.EMAIL,),
    cadence_options: Sequence[str] = ("immediate",),
    double_opt_in: bool = False,
    position: int = 0,
) -> Topic:
    topic = Topic(
        brand=brand,
        slug=slug,
        name=name,
        purpose=purpose,
        sms_purpose=sms_purpose,
        description=description,
        translations=translations or {},
        transactional=transactional,
        default_subscribed=default_subscribed,
        channels=[str(channel) for channel in channels],
        cadence_options=[str(cadence) for cadence in cadence_options],
        double_opt_in=double_opt_in,
        position=position,
    )
    model_clean(topic, invalid=_TOPIC_INVALID)
    topic.save()
    audit_record(
        brand=brand,
        actor=actor,
        action=AuditAction.TOPIC_CREATED,
        target_type="topic",
        target_id=topic.slug,
        after={"slug": topic.slug, **audit_fields(topic, TOPIC_AUDITED)},
    )
    return topic


@transaction.atomic
def topic_update(
    *,
    topic: Topic,
    actor: Actor,
    name: str = UNSET,
    purpose: Purpose | None = UNSET,
    sms_purpose: Purpose | None = UNSET,
    description: str = UNSET,
    translations: dict[str, dict[str, str]] = UNSET,
    transactional: bool = UNSET,
    default_subscribed: bool = UNSET,
    channels: Sequence[str] = UNSET,
    cadence_options: Sequence[str] = UNSET,
    double_opt_in: bool = UNSET,
    position: int = UNSET,
) -> Topic:
    """Change the fields given. The brand and slug stay: the slug names the topic in every API
    client, link and outbox event. Contacts' choices stay as they are."""
    locked = (
        Topic.objects.select_for_update(of=("self",))
        .select_related("brand", "purpose", "sms_purpose")
        .get(pk=topic.pk)
    )
    given: dict[str, Any] = {
        "name": name,
        "purpose": purpose,
        "sms_purpose": sms_purpose,
        "description": description,
        "translations": translations,
        "transactional": transactional,
        "default_subscribed": default_subscribed,
        "channels": channels if channels is UNSET else [str(channel) for channel in channels],
        "cadence_options": cadence_options
        if cadence_options is UNSET
        else [str(cadence) for cadence in cadence_options],
        "double_opt_in": double_opt_in,
        "position": position,
    }
    before = audit_fields(locked, TOPIC_AUDITED)
    updated = fields_update(locked, given, invalid=_TOPIC_INVALID)
    changed_before, changed_after = audit_diff(before, audit_fields(updated, TOPIC_AUDITED))
    if changed_after:
        audit_record(
            brand=updated.brand,
            actor=actor,
            action=AuditAction.TOPIC_UPDATED,
            target_type="topic",
            target_id=updated.slug,
            before=changed_before,
            after=changed_after,
        )
    return updated


@transaction.atomic
def topic_delete(*, topic: Topic, actor: Actor) -> None:
    """Delete a topic nobody has used. Once a contact has chosen about it, a hold names it or a
    one-click unsubscribe for it waits to be applied, it stays (Conflict): deleting it would
    lose that choice, widen the hold to every topic, or drop the unsubscribe."""
    locked = (
        Topic.objects.select_for_update(of=("self",))
        .select_related("brand", "purpose", "sms_purpose")
        .get(pk=topic.pk)
    )
    if (
        Subscription.objects.filter(topic=locked).exists()
        or Hold.topics.through.objects.filter(topic=locked).exists()
        or PendingUnsubscribe.objects.filter(topic=locked).exists()
    ):
        raise Conflict(
            f"Topic '{locked.slug}' is in use (contacts' choices, holds or unsubscribes name it) "
            f"and cannot be deleted."
        )
    before = {"slug": locked.slug, **audit_fields(locked, TOPIC_AUDITED)}
    locked.delete()
    audit_record(
        brand=locked.brand,
        actor=actor,
        action=AuditAction.TOPIC_DELETED,
        target_type="topic",
        target_id=locked.slug,
        before=before,
    )
