"""A suppressed address (erased earlier, then back through the brand) is opted in to marketing
again only by the person's own confirmed double opt-in by email, from the hosted page. Every
brand-side write that would opt it in (API consents and preferences, with any method) answers
409 `suppressed` and writes nothing; writes that cannot opt it in never lift the suppression."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.core import mail

from consent.erasure import contact_erase
from consent.identifiers import email_hmac
from consent.models import ConsentEvent, Contact, DpvPurpose, Suppression
from preferences.models import Subscription
from sync.models import Event
from tests.conftest import current_version
from tests.preferences.conftest import PREFERENCE_SCOPES, ledger
from tests.preferences.pages import open_centre

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
ADDRESS = "ada@example.com"
WRITE_SCOPES = ["consent:read", "consent:write", *PREFERENCE_SCOPES]
# What a brand may say about how a decision was collected (consent.serializers.API_METHODS),
# and no method at all (the default, `api`).
METHODS = [None, "api", "import", "agent"]


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def brand_api(brand, make_client):
    return make_client(brand, WRITE_SCOPES)


@pytest.fixture
def sharing(brand, make_purpose):
    """A marketing purpose with no topics: granted on the centre by its own button."""
    return make_purpose(
        brand, "ad-sharing", sale_or_sharing=True, dpv_purpose=DpvPurpose.PERSONALISED_ADVERTISING
    )


@pytest.fixture
def analytics(brand, make_purpose):
    return make_purpose(brand, "analytics", dpv_purpose=DpvPurpose.SERVICE_PERSONALISATION)


@pytest.fixture
def returned(brand, contact, brand_api, topics):
    """The contact was erased; the brand then PUT the same address under the same id."""
    contact_erase(brand=brand, contact=contact, requested_via="api")
    response = brand_api.put("/api/v1/contacts/cust-1", {"email": "Ada@Example.com"}, format="json")
    assert (response.status_code, response.json()["suppressed"]) == (201, True)
    return Contact.objects.get(brand=brand, external_id="cust-1")


def assert_still_suppressed(contact: Contact) -> None:
    contact.refresh_from_db()
    assert contact.suppressed is True
    assert list(Suppression.objects.values_list("email_hmac", flat=True)) == [email_hmac(ADDRESS)]


def _body(method: str | None, **fields):
    return {**fields, **({"method": method} if method is not None else {})}


def _consent_grant(purpose_slug: str):
    def write(api, method, versions):
        body = _body(method, purpose=purpose_slug, decision="granted", notice_version=versions[purpose_slug])
        return api.post("/api/v1/contacts/cust-1/consents", body, format="json")

    return write


def _subscribe(topic: str, channel: str, purpose_slug: str):
    def write(api, method, versions):
        row = {
            "topic": topic,
            "channel": channel,
            "status": "subscribed",
            "notice_version": versions[purpose_slug],
        }
        return api.patch(
            "/api/v1/contacts/cust-1/preferences", _body(method, subscriptions=[row]), format="json"
        )

    return write


BRAND_SIDE_WRITES = {
    "consent grant": _consent_grant("email-marketing"),
    "consent grant, sale or sharing": _consent_grant("ad-sharing"),
    "subscribe by email": _subscribe("newsletter", "email", "email-marketing"),
    "subscribe by sms": _subscribe("newsletter", "sms", "email-marketing"),
    "subscribe to a double opt-in topic": _subscribe("launches", "email", "product-news"),
}


@pytest.mark.parametrize("method", METHODS, ids=lambda m: f"method={m}")
@pytest.mark.parametrize("route", BRAND_SIDE_WRITES, ids=str)
def test_no_brand_side_write_opts_a_suppressed_address_in_again(
    brand, returned, brand_api, sharing, route, method
):
    versions = {p: current_version(purpose).public_id for p, purpose in _purposes(brand).items()}
    events_before = Event.objects.count()

    response = BRAND_SIDE_WRITES[route](brand_api, method, versions)

    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert (body["type"], body["title"], body["status"]) == (
        "urn:candor:problem:suppressed",
        "Address suppressed",
        409,
    )
    assert body["detail"] == (
        "Contact 'cust-1' has an address that was erased earlier and is suppressed for marketing: only "
        "the person can opt in again, by confirming a double opt-in email sent from the preference centre."
    )
    # Nothing was written: no ledger row, no subscription, no outbox event, no email.
    assert ConsentEvent.objects.filter(contact=returned).count() == 0
    assert Subscription.objects.filter(contact=returned).count() == 0
    assert Event.objects.count() == events_before
    assert mail.outbox == []
    assert_still_suppressed(returned)


def _purposes(brand):
    from consent.models import Purpose

    return {purpose.slug: purpose for purpose in Purpose.objects.filter(brand=brand)}


def test_writes_that_cannot_opt_in_are_accepted_and_lift_nothing(
    brand, returned, brand_api, analytics, admin_client
):
    # A profile change, with the address given again.
    changed = brand_api.put(
        "/api/v1/contacts/cust-1",
        {"email": ADDRESS, "locale": "de", "phone": "+4915123456789"},
        format="json",
    )
    assert (changed.status_code, changed.json()["suppressed"]) == (200, True)
    # A "no" is always welcome, and a purpose that is not marketing needs no new opt-in.
    withdrawn = brand_api.post(
        "/api/v1/contacts/cust-1/consents",
        {"purpose": "email-marketing", "decision": "withdrawn"},
        format="json",
    )
    assert withdrawn.status_code == 201
    granted = brand_api.post(
        "/api/v1/contacts/cust-1/consents",
        {
            "purpose": "analytics",
            "decision": "granted",
            "notice_version": current_version(analytics).public_id,
        },
        format="json",
    )
    assert granted.status_code == 201
    # Staff correcting the contact in the admin (through contact_upsert) cannot lift it either;
    # `suppressed` is read-only there.
    change_url = f"/admin/consent/contact/{returned.pk}/change/"
    form = admin_client.get(change_url).context["adminform"].form
    data = {
        name: "" if value is None else value for name, value in form.initial.items() if name in form.fields
    }
    edited = admin_client.post(change_url, {**data, "email": ADDRESS, "locale": "fr"})
    assert edited.status_code == 302
    assert ledger(returned) == [
        (1, "email-marketing", "withdrawn", "api", None),
        (2, "analytics", "granted", "api", current_version(analytics).public_id),
    ]
    assert Contact.objects.get(pk=returned.pk).locale == "fr"
    assert_still_suppressed(returned)


def test_the_hosted_page_refuses_a_direct_grant_and_an_sms_opt_in(client, brand, returned, sharing):
    page = open_centre(client, brand, returned)
    version = current_version(sharing).public_id

    response = page.post("/p/acme/consents/ad-sharing", {"decision": "granted", "notice": version})

    assert response.status_code == 422
    assert (
        "You asked us earlier to delete your data, so we need you to confirm your email address first: "
        "subscribe to something by email here and use the link we send you."
    ) in response.content.decode().replace("&#x27;", "'")
    sms = page.post(
        "/p/acme/subscriptions",
        {
            "sub.newsletter.sms": "on",
            "notice.email-marketing": current_version(_purposes(brand)["email-marketing"]).public_id,
        },
    )
    assert sms.status_code == 422
    assert ConsentEvent.objects.filter(contact=returned).count() == 0
    assert Subscription.objects.filter(contact=returned).count() == 0
    assert_still_suppressed(returned)


def test_only_the_persons_confirmed_double_opt_in_lifts_the_suppression(
    client, brand, returned, brand_api, django_capture_on_commit_callbacks
):
    version = current_version(_purposes(brand)["email-marketing"]).public_id
    page = open_centre(client, brand, returned)

    # Ticking the newsletter by email on the hosted page asks for a confirmation first, even
    # though the topic itself has no double opt-in.
    with django_capture_on_commit_callbacks(execute=True):
        asked = page.post(
            "/p/acme/subscriptions",
            {"sub.newsletter.email": "on", "notice.email-marketing": version},
            HTTP_USER_AGENT="Browser/1.0",
            REMOTE_ADDR="203.0.113.77",
        )
    assert asked.status_code == 303
    assert list(Subscription.objects.filter(contact=returned).values_list("status", flat=True)) == ["pending"]
    assert ConsentEvent.objects.filter(contact=returned).count() == 0
    assert_still_suppressed(returned)
    [message] = mail.outbox
    assert message.to == [ADDRESS]
    [url] = set(re.findall(r"https?://\S+/p/acme/c/[\w:.-]+", message.body))
    confirm_path = url[url.index("/p/acme/c/") :]

    # Following the link (a mail scanner) changes nothing; the person's POST confirms.
    assert client.get(confirm_path).status_code == 200
    assert_still_suppressed(returned)
    confirmed = client.post(confirm_path, HTTP_USER_AGENT="Mail app", REMOTE_ADDR="203.0.113.9")
    assert confirmed.status_code == 200

    assert ledger(returned) == [(1, "email-marketing", "granted", "preference_centre", version)]
    event = ConsentEvent.objects.get(contact=returned)
    assert event.recorded_by.startswith("hosted:confirm-link")
    returned.refresh_from_db()
    assert returned.suppressed is False
    assert Suppression.objects.count() == 0
    # From now on the brand's writes are ordinary again.
    assert brand_api.get("/api/v1/contacts/cust-1").json()["suppressed"] is False
