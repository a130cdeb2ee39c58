"""The console (Django admin) writes through the services and never edits evidence."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from brands.models import ApiKey
from consent.models import ConsentEvent, NoticeVersion, Purpose


@pytest.fixture
def staff(client, db):
    user = User.objects.create_superuser("root", "root@example.com", "a-long-password-123")
    client.force_login(user)
    return client


def test_purpose_added_in_admin_gets_its_notice_and_lists_in_the_api(staff, brand, api):
    response = staff.post(
        "/admin/consent/purpose/add/",
        {
            "brand": brand.pk,
            "slug": "offers",
            "name": "Offers",
            "description": "",
            "legal_basis": "consent",
            "consent_type": "express",
            "lifetime_days": "",
            "dpv_purpose": "dpv:Marketing",
        },
    )
    assert response.status_code == 302
    purpose = Purpose.objects.get(slug="offers")
    assert purpose.notice is not None

    response = staff.post(
        "/admin/consent/noticeversion/add/",
        {"purpose": purpose.pk, "language": "fr", "title": "Offres", "text": "Nous envoyons des offres."},
    )
    assert response.status_code == 302
    version = NoticeVersion.objects.get(notice__purpose=purpose)
    assert (version.version, version.language) == (1, "fr")
    [listed] = api.get("/api/v1/purposes").json()
    assert listed["notice_version"]["id"] == version.public_id


def test_ledger_and_notice_versions_are_read_only_in_admin(staff, api, contact, purpose, notice_version):
    api.post(
        "/api/v1/contacts/cust-1/consents",
        {"purpose": "email-marketing", "decision": "withdrawn"},
        format="json",
    )
    event = ConsentEvent.objects.get()
    assert staff.get(f"/admin/consent/consentevent/{event.pk}/change/").status_code == 200
    assert (
        staff.post(f"/admin/consent/consentevent/{event.pk}/change/", {"decision": "granted"}).status_code
        == 403
    )
    assert staff.post(f"/admin/consent/consentevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert staff.get("/admin/consent/consentevent/add/").status_code == 403
    assert (
        staff.post(f"/admin/consent/noticeversion/{notice_version.pk}/change/", {"text": "x"}).status_code
        == 403
    )
    assert ConsentEvent.objects.get().decision == "withdrawn"


def test_admin_revokes_api_keys(staff, api, brand, django_capture_on_commit_callbacks):
    assert api.get("/api/v1/purposes").status_code == 200  # the key is now cached
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(
            "/admin/brands/apikey/", {"action": "revoke", "_selected_action": [api.api_key.pk]}
        )
    assert response.status_code == 302
    assert ApiKey.objects.get(pk=api.api_key.pk).revoked_at is not None
    assert api.get("/api/v1/purposes").status_code == 401
