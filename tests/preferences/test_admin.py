"""Staff configure topics in the console; contacts' choices are read-only there."""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User

from brands.audit import Actor
from config.errors import Conflict, Unprocessable
from preferences import admin as preferences_admin
from preferences import services, topics
from preferences.models import Hold, Subscription, Topic
from preferences.services import preferences_update
from tests.actors import TEST_ACTOR
from tests.preferences.conftest import change_rows
from tests.test_admin import ServiceCalls


@pytest.fixture
def staff(client, db):
    user = User.objects.create_superuser("root", "root@example.com", "a-long-password-123")
    client.force_login(user)
    return client


def topic_form(brand, purpose, **overrides):
    return {
        "brand": brand.pk,
        "slug": "news",
        "name": "News",
        "description": "",
        "translations": '{"fr": {"name": "Actualités"}}',
        "purpose": purpose.pk,
        "default_subscribed": "",
        "channels": '["email", "sms"]',
        "cadence_options": '["weekly", "monthly"]',
        "position": "0",
        **overrides,
    }


def test_topic_added_in_admin_is_validated_and_created(staff, brand, purpose):
    refused = staff.post("/admin/preferences/topic/add/", topic_form(brand, purpose, channels='["fax"]'))
    assert refused.status_code == 200  # the form again, with the error
    assert "Unknown channel" in refused.content.decode()
    assert not Topic.objects.exists()

    response = staff.post("/admin/preferences/topic/add/", topic_form(brand, purpose))
    assert response.status_code == 302
    topic = Topic.objects.get()
    assert (topic.channels, topic.cadence_options, topic.translations) == (
        ["email", "sms"],
        ["weekly", "monthly"],
        {"fr": {"name": "Actualités"}},
    )


def test_topic_purpose_of_another_brand_is_refused(staff, brand, other_brand, make_purpose):
    foreign = make_purpose(other_brand, "email-marketing")
    response = staff.post("/admin/preferences/topic/add/", topic_form(brand, foreign))
    assert response.status_code == 200
    assert not Topic.objects.exists()


def test_subscriptions_are_read_only_in_admin(staff, brand, contact, newsletter, notice_version):
    preferences_update(
        brand=brand,
        external_id="cust-1",
        method="api",
        recorded_by="t",
        subscriptions=change_rows(("newsletter", "email", notice_version.public_id)),
    )
    row = Subscription.objects.get()
    assert staff.get(f"/admin/preferences/subscription/{row.pk}/change/").status_code == 200
    assert (
        staff.post(
            f"/admin/preferences/subscription/{row.pk}/change/", {"status": "unsubscribed"}
        ).status_code
        == 403
    )
    assert staff.post(f"/admin/preferences/subscription/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Subscription.objects.get().status == "subscribed"


# --- Topics are written by the services -----------------------------------------------------------

TOPIC_FIELDS = (
    "brand_id",
    "slug",
    "name",
    "description",
    "translations",
    "purpose_id",
    "transactional",
    "default_subscribed",
    "channels",
    "cadence_options",
    "double_opt_in",
    "position",
)


def topic_row(pk):
    return Topic.objects.values(*TOPIC_FIELDS).get(pk=pk)


def change_form(topic, **overrides):
    """The change form as a browser sends it for `topic`: brand and slug are read-only, and the
    fields with a callable default carry their current value as a hidden initial."""
    form = {**topic_form(topic.brand, topic.purpose), **overrides}
    del form["brand"], form["slug"]
    for name in ("translations", "channels", "cadence_options"):
        form[f"initial-{name}"] = json.dumps(getattr(topic, name), ensure_ascii=False)
    return form


@pytest.fixture
def calls(monkeypatch):
    return ServiceCalls(monkeypatch)


@pytest.fixture
def news(brand, purpose):
    return topics.topic_create(
        actor=TEST_ACTOR,
        brand=brand,
        slug="news",
        name="News",
        purpose=purpose,
        translations={"fr": {"name": "Actualités"}},
        channels=["email", "sms"],
        cadence_options=["weekly", "monthly"],
    )


def test_topic_added_in_admin_is_created_by_the_service(staff, brand, purpose, calls):
    calls.spy(preferences_admin, "topic_create")
    response = staff.post("/admin/preferences/topic/add/", topic_form(brand, purpose, position="3"))
    assert response.status_code == 302
    assert [name for name, _ in calls.recorded] == ["topic_create"]
    assert topic_row(Topic.objects.get().pk) == {
        "brand_id": brand.pk,
        "slug": "news",
        "name": "News",
        "description": "",
        "translations": {"fr": {"name": "Actualités"}},
        "purpose_id": purpose.pk,
        "transactional": False,
        "default_subscribed": False,
        "channels": ["email", "sms"],
        "cadence_options": ["weekly", "monthly"],
        "double_opt_in": False,
        "position": 3,
    }


def test_topic_changed_in_admin_is_updated_by_the_service(staff, news, calls):
    calls.spy(preferences_admin, "topic_update")
    before = topic_row(news.pk)
    response = staff.post(
        f"/admin/preferences/topic/{news.pk}/change/",
        change_form(news, name="Weekly news", channels='["email"]', double_opt_in="on"),
    )
    assert response.status_code == 302
    assert calls.recorded == [
        (
            "topic_update",
            {
                "topic": news,
                "actor": Actor.operator(User.objects.get(username="root")),
                "name": "Weekly news",
                "channels": ["email"],
                "double_opt_in": True,
            },
        )
    ]
    assert topic_row(news.pk) == {
        **before,
        "name": "Weekly news",
        "channels": ["email"],
        "double_opt_in": True,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"channels": '["fax"]'}, "Unknown channel"),
        ({"cadence_options": '["hourly"]'}, "Unknown cadence"),
        ({"purpose": ""}, "Only a transactional topic may go without a purpose."),
        ({"translations": '{"de": {"title": "x"}}'}, "may give only"),
    ],
)
def test_an_invalid_topic_edit_writes_nothing(staff, news, change, message):
    before = topic_row(news.pk)
    response = staff.post(f"/admin/preferences/topic/{news.pk}/change/", change_form(news, **change))
    assert response.status_code == 200  # the form again, with the error
    assert message in response.content.decode()
    assert topic_row(news.pk) == before
    assert not LogEntry.objects.exists()


def test_an_unused_topic_is_deleted_by_the_service(staff, news, calls):
    calls.spy(preferences_admin, "topic_delete")
    response = staff.post(f"/admin/preferences/topic/{news.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert calls.recorded == [
        ("topic_delete", {"topic": news, "actor": Actor.operator(User.objects.get(username="root"))})
    ]
    assert not Topic.objects.exists()


def test_a_topic_a_hold_names_is_not_deleted(staff, brand, contact, news):
    """Deleting it would silently widen the hold to every topic."""
    hold = services.hold_start(
        brand=brand, external_id="cust-1", started_by="customer", weeks=1, topics=["news"], recorded_by="t"
    )
    response = staff.post(f"/admin/preferences/topic/{news.pk}/delete/", {"post": "yes"}, follow=True)
    assert response.redirect_chain == [(f"/admin/preferences/topic/{news.pk}/change/", 302)]
    assert "is in use" in response.content.decode()
    assert topic_row(news.pk)["slug"] == "news"
    assert list(Hold.objects.get(pk=hold.pk).topics.all()) == [news]
    assert not LogEntry.objects.exists()


def test_topics_have_no_bulk_delete(staff, news):
    response = staff.post(
        "/admin/preferences/topic/",
        {"action": "delete_selected", "_selected_action": [news.pk], "post": "yes"},
    )
    assert Topic.objects.filter(pk=news.pk).exists()
    assert "delete_selected" not in staff.get("/admin/preferences/topic/").content.decode()
    assert response.status_code == 200  # the list again: no such action


def test_topic_update_refuses_an_invalid_change_and_writes_nothing(news):
    before = topic_row(news.pk)
    with pytest.raises(Unprocessable) as caught:
        topics.topic_update(actor=TEST_ACTOR, topic=news, name="Renamed", channels=["email", "fax"])
    assert list(caught.value.errors) == ["channels"]
    assert topic_row(news.pk) == before


def test_topic_delete_refuses_a_topic_contacts_chose_about(brand, contact, newsletter, notice_version):
    preferences_update(
        brand=brand,
        external_id="cust-1",
        method="api",
        recorded_by="t",
        subscriptions=change_rows(("newsletter", "email", notice_version.public_id)),
    )
    with pytest.raises(Conflict):
        topics.topic_delete(actor=TEST_ACTOR, topic=newsletter)
    assert Topic.objects.filter(pk=newsletter.pk).exists()
