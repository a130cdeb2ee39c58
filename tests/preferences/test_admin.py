"""Staff configure topics in the console; contacts' choices are read-only there."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from preferences.models import Subscription, Topic
from preferences.services import preferences_update
from tests.preferences.conftest import change_rows


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
