"""The console (Django admin) writes through the services and never edits evidence."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User

from brands.audit import Actor
from brands.models import ApiKey
from config.errors import Unprocessable
from consent import admin as consent_admin
from consent import services
from consent.identifiers import email_hmac
from consent.models import ConsentEvent, Contact, Notice, NoticeVersion, Purpose
from tests.actors import TEST_ACTOR, audit_mark, audit_rows


def operator() -> Actor:
    """The audit log's actor for what the `staff` fixture's superuser does in the admin."""
    return Actor.operator(User.objects.get(username="root"))


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


# --- Purposes and contacts are written by the services -----------------------------------------

PURPOSE_FIELDS = (
    "brand_id",
    "slug",
    "name",
    "description",
    "legal_basis",
    "consent_type",
    "lifetime_days",
    "dpv_purpose",
    "sale_or_sharing",
)


def purpose_row(pk):
    return Purpose.objects.values(*PURPOSE_FIELDS).get(pk=pk)


def purpose_form(**overrides):
    return {
        "name": "Email Marketing",
        "description": "",
        "legal_basis": "consent",
        "consent_type": "express",
        "lifetime_days": "",
        "dpv_purpose": "dpv:Marketing",
        **overrides,
    }


class ServiceCalls:
    """Records each call of the services a module uses, then runs them."""

    def __init__(self, monkeypatch):
        self.monkeypatch = monkeypatch
        self.recorded = []

    def spy(self, module, name):
        real = getattr(module, name)

        def wrapper(**kwargs):
            self.recorded.append((name, kwargs))
            return real(**kwargs)

        self.monkeypatch.setattr(module, name, wrapper)


@pytest.fixture
def calls(monkeypatch):
    return ServiceCalls(monkeypatch)


def test_purpose_added_in_admin_is_created_by_the_service(staff, brand, calls):
    calls.spy(consent_admin, "purpose_create")
    response = staff.post(
        "/admin/consent/purpose/add/",
        {"brand": brand.pk, "slug": "offers", **purpose_form(name="Offers", lifetime_days="365")},
    )
    assert response.status_code == 302
    assert [name for name, _ in calls.recorded] == ["purpose_create"]
    purpose = Purpose.objects.get()
    assert purpose_row(purpose.pk) == {
        "brand_id": brand.pk,
        "slug": "offers",
        "name": "Offers",
        "description": "",
        "legal_basis": "consent",
        "consent_type": "express",
        "lifetime_days": 365,
        "dpv_purpose": "dpv:Marketing",
        "sale_or_sharing": False,
    }
    assert list(Notice.objects.values_list("purpose_id", flat=True)) == [purpose.pk]


def test_purpose_changed_in_admin_is_updated_by_the_service(staff, purpose, calls):
    calls.spy(consent_admin, "purpose_update")
    before = purpose_row(purpose.pk)
    response = staff.post(
        f"/admin/consent/purpose/{purpose.pk}/change/",
        purpose_form(name="Our offers", sale_or_sharing="on"),
    )
    assert response.status_code == 302
    assert calls.recorded == [
        (
            "purpose_update",
            {"purpose": purpose, "actor": operator(), "name": "Our offers", "sale_or_sharing": True},
        )
    ]
    assert purpose_row(purpose.pk) == {**before, "name": "Our offers", "sale_or_sharing": True}


@pytest.mark.parametrize(
    "change",
    [{"legal_basis": "whim"}, {"lifetime_days": "-1"}, {"name": ""}, {"dpv_purpose": "dpv:Nothing"}],
)
def test_an_invalid_purpose_edit_writes_nothing(staff, purpose, change):
    before = purpose_row(purpose.pk)
    response = staff.post(f"/admin/consent/purpose/{purpose.pk}/change/", purpose_form(**change))
    assert response.status_code == 200  # the form again, with the error
    assert purpose_row(purpose.pk) == before
    assert not LogEntry.objects.exists()


def test_a_refusal_by_the_service_shows_on_the_form_and_writes_nothing(staff, purpose, monkeypatch):
    """A rule only the service knows (or a race): its transaction rolls back, the form says why."""

    def refuse(*, purpose, **changes):
        Purpose.objects.filter(pk=purpose.pk).update(name="half-written")
        raise Unprocessable.for_field("name", "The service says no.")

    monkeypatch.setattr(consent_admin, "purpose_update", refuse)
    before = purpose_row(purpose.pk)
    response = staff.post(f"/admin/consent/purpose/{purpose.pk}/change/", purpose_form(name="Offers"))
    assert response.status_code == 200
    assert "The service says no." in response.content.decode()
    assert purpose_row(purpose.pk) == before
    assert not LogEntry.objects.exists()


def test_purposes_are_not_deleted_in_admin(staff, purpose):
    assert staff.post(f"/admin/consent/purpose/{purpose.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Purpose.objects.filter(pk=purpose.pk).exists()


def test_purpose_update_refuses_an_invalid_change_and_writes_nothing(purpose):
    before = purpose_row(purpose.pk)
    with pytest.raises(Unprocessable) as caught:
        services.purpose_update(actor=TEST_ACTOR, purpose=purpose, name="New name", consent_type="tacit")
    assert list(caught.value.errors) == ["consent_type"]
    assert purpose_row(purpose.pk) == before


def contact_form(**overrides):
    return {
        "email": "ada@example.com",
        "phone": "",
        "locale": "",
        "timezone": "",
        "jurisdiction": "",
        **overrides,
    }


def test_contact_corrected_in_admin_goes_through_contact_upsert(staff, brand, contact, calls):
    calls.spy(consent_admin, "contact_upsert")
    response = staff.post(
        f"/admin/consent/contact/{contact.pk}/change/",
        contact_form(email="Grace@Example.com", phone="+4915123456789"),
    )
    assert response.status_code == 302
    assert calls.recorded == [
        (
            "contact_upsert",
            {
                "brand": brand,
                "external_id": "cust-1",
                "email": "Grace@Example.com",
                "phone": "+4915123456789",
            },
        )
    ]
    row = Contact.objects.values("email", "email_hmac", "phone", "locale").get(pk=contact.pk)
    assert row == {
        "email": "grace@example.com",
        "email_hmac": email_hmac("grace@example.com"),  # the pseudonym moves with the address
        "phone": "+4915123456789",
        "locale": "",
    }


def test_a_contact_edit_the_service_refuses_writes_nothing(staff, contact):
    before = Contact.objects.values().get(pk=contact.pk)
    response = staff.post(
        f"/admin/consent/contact/{contact.pk}/change/", contact_form(email="new@example.com", phone="12345")
    )
    assert response.status_code == 200
    assert "E.164" in response.content.decode()
    assert Contact.objects.values().get(pk=contact.pk) == before


def test_contacts_are_erased_not_deleted_in_admin(staff, contact):
    assert staff.post(f"/admin/consent/contact/{contact.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Contact.objects.filter(pk=contact.pk).exists()


# --- Brands and memberships -------------------------------------------------------------------


def test_a_brand_added_and_changed_in_admin_goes_through_the_services(staff, monkeypatch):
    from brands import admin as brands_admin
    from brands import services as brand_services
    from brands.models import Brand

    seen: list[str] = []
    for name in ("brand_create", "brand_update"):
        real = getattr(brand_services, name)
        monkeypatch.setattr(
            brands_admin, name, lambda *a, _real=real, _name=name, **k: seen.append(_name) or _real(*a, **k)
        )
    fields = {
        "slug": "shop",
        "name": "Shop",
        "default_language": "de",
        "jurisdiction": "EU",
        "primary_colour": "#123456",
        "typeface": "system",
    }
    assert staff.post("/admin/brands/brand/add/", fields).status_code == 302
    brand = Brand.objects.get(slug="shop")
    assert (brand.name, brand.default_language, brand.primary_colour) == ("Shop", "de", "#123456")

    response = staff.post(f"/admin/brands/brand/{brand.pk}/change/", {**fields, "name": "Shop Ltd"})
    assert response.status_code == 302
    brand.refresh_from_db()
    assert (brand.slug, brand.name) == ("shop", "Shop Ltd")
    assert seen == ["brand_create", "brand_update", "brand_update"]
    assert staff.get(f"/admin/brands/brand/{brand.pk}/delete/").status_code == 403


def test_brand_update_refuses_a_new_slug_and_bad_values_and_writes_nothing(brand):
    from brands.services import brand_update

    before = (brand.slug, brand.name, brand.website)
    with pytest.raises(Unprocessable):
        brand_update(actor=TEST_ACTOR, brand=brand, slug="other")
    with pytest.raises(Unprocessable) as refused:
        brand_update(actor=TEST_ACTOR, brand=brand, name="New name", website="not a url")
    assert set(refused.value.errors) == {"website"}
    brand.refresh_from_db()
    assert (brand.slug, brand.name, brand.website) == before


def test_memberships_are_set_and_removed_through_the_services(staff, brand, monkeypatch):
    from brands import admin as brands_admin
    from brands.models import Membership

    removed: list[int] = []
    real_remove = brands_admin.membership_remove
    monkeypatch.setattr(
        brands_admin,
        "membership_remove",
        lambda *, membership, actor: (
            removed.append(membership.pk) or real_remove(membership=membership, actor=actor)
        ),
    )
    user = User.objects.create_user("editor", "editor@example.com", "a-long-password-123")
    mark = audit_mark()
    added = staff.post(
        "/admin/brands/membership/add/", {"user": user.pk, "brand": brand.pk, "role": "editor"}
    )
    assert added.status_code == 302
    membership = Membership.objects.get()
    assert (membership.user_id, membership.brand_id, membership.role) == (user.pk, brand.pk, "editor")
    assert 'value="delete_selected"' not in staff.get("/admin/brands/membership/").content.decode()

    assert staff.post(f"/admin/brands/membership/{membership.pk}/delete/", {"post": "yes"}).status_code == 302
    assert removed == [membership.pk]
    assert not Membership.objects.exists()
    # The audit log names the operator, and the member by user id (never a secret).
    assert audit_rows(brand, since_id=mark) == [
        (
            "operator",
            "root",
            "membership.created",
            "user",
            str(user.pk),
            None,
            {"user": "editor", "role": "editor"},
            "",
        ),
        (
            "operator",
            "root",
            "membership.removed",
            "user",
            str(user.pk),
            {"user": "editor", "role": "editor"},
            None,
            "",
        ),
    ]
