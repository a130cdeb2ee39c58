from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from brands.audit import Actor
from config.admin import ServiceAdmin
from consent.admin import ReadOnlyAdmin
from preferences.models import ChannelOptOut, Hold, Subscription, Topic
from preferences.topics import topic_create, topic_delete, topic_update


@admin.register(Topic)
class TopicAdmin(ServiceAdmin):
    """Topics are the brand's configuration; staff edit them here, through `topic_create`,
    `topic_update` and `topic_delete`."""

    list_display = [
        "slug",
        "brand",
        "name",
        "purpose",
        "transactional",
        "double_opt_in",
        "position",
    ]
    list_filter = ["brand", "transactional", "double_opt_in"]
    list_select_related = ["brand", "purpose"]
    search_fields = ["slug", "name"]
    ordering = ["brand__slug", "position", "slug"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The slug names the topic in every API client, link and outbox event.
        return [] if obj is None else ["brand", "slug"]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # The bulk delete would bypass delete_model: topics are deleted one by one, by the service.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request: HttpRequest, obj: Topic, form: Any, change: bool) -> None:
        if change:
            topic_update(
                topic=obj,
                actor=Actor.operator(request.user),
                **{name: form.cleaned_data[name] for name in form.changed_data},
            )
            return
        created = topic_create(
            brand=obj.brand,
            actor=Actor.operator(request.user),
            slug=obj.slug,
            name=obj.name,
            purpose=obj.purpose,
            sms_purpose=obj.sms_purpose,
            description=obj.description,
            translations=obj.translations,
            transactional=obj.transactional,
            default_subscribed=obj.default_subscribed,
            channels=obj.channels,
            cadence_options=obj.cadence_options,
            double_opt_in=obj.double_opt_in,
            position=obj.position,
        )
        obj.pk = created.pk

    def delete_model(self, request: HttpRequest, obj: Topic) -> None:
        topic_delete(topic=obj, actor=Actor.operator(request.user))


# Choices are made by contacts through the services, each with its ledger rows and events:
# staff look, never touch.


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = ["contact", "topic", "channel", "status", "cadence", "occurred_at"]
    list_filter = ["brand", "status", "channel"]
    list_select_related = ["contact", "topic"]
    search_fields = ["contact__external_id"]


@admin.register(ChannelOptOut)
class ChannelOptOutAdmin(ReadOnlyAdmin):
    list_display = ["contact", "channel", "opted_out", "occurred_at"]
    list_filter = ["brand", "channel", "opted_out"]
    list_select_related = ["contact"]
    search_fields = ["contact__external_id"]


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "contact", "started_by", "until", "ended_at", "end_reason"]
    list_filter = ["brand", "started_by", "end_reason"]
    list_select_related = ["contact"]
    search_fields = ["contact__external_id", "public_id"]
