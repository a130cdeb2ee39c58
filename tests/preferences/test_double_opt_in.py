"""Double opt-in: the confirmation email (after commit, no advertising, in the contact's language),
its rate-limited resend, and a confirm link that works once, for 72 hours."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from smtplib import SMTPRecipientsRefused

import pytest
import time_machine
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.utils import translation

from config.errors import Unprocessable
from consent.models import ConsentEvidence
from consent.services import EvidenceInput, contact_upsert
from preferences import services
from preferences.emails import TEMPLATE_VERSION, confirm_url, confirmation_send
from preferences.models import Subscription
from preferences.services import (
    ConfirmationExpired,
    ConfirmationTooSoon,
    ConfirmationUsed,
    SubscriptionChange,
)
from tests.preferences.conftest import counts, ledger, outbox

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
URL = "https://candor.test/p/acme/c/{topic}-{channel}"


def builder(row: Subscription) -> str:
    return URL.format(topic=row.topic.slug, channel=row.channel)


def ask(brand, news_version, *topics, at=None, external_id="cust-1", channel="email"):
    """The contact asks for double opt-in topics on the hosted page; the email goes after commit."""
    with time_machine.travel(at or NOW, tick=False):
        return services.preferences_update_with_confirmation(
            confirm_url_builder=builder,
            brand=brand,
            external_id=external_id,
            method="preference_centre",
            recorded_by="hosted:centre",
            subscriptions=[
                SubscriptionChange(
                    topic=topic, channel=channel, status="subscribed", notice_version=news_version.public_id
                )
                for topic in topics or ("launches",)
            ],
            evidence=EvidenceInput(ip="198.51.100.0", user_agent="Signup browser"),
        )


def links(message: EmailMultiAlternatives) -> tuple[list[str], list[str]]:
    """Every URL in the text part, and every href/src in the html part."""
    [(html, _)] = message.alternatives
    return re.findall(r"https?://\S+", message.body), re.findall(r'(?:href|src)="([^"]*)"', html)


def confirm(brand, contact, topic, *, issued_at, at, channel="email"):
    with time_machine.travel(at, tick=False):
        return services.subscription_confirm_link(
            brand=brand,
            contact=contact,
            topic_id=topic.pk,
            channel=channel,
            issued_at=issued_at,
            recorded_by=f"hosted:confirm-link ({TEMPLATE_VERSION})",
            evidence=EvidenceInput(
                ip="203.0.113.0", user_agent="Mail app browser", page_url="https://c.test/p/acme/c/"
            ),
        )


# --- The email ---------------------------------------------------------------------------------


def test_the_confirmation_goes_after_commit_to_the_contact_with_nothing_but_the_confirm_link(
    brand, contact, launches, news_version, django_capture_on_commit_callbacks
):
    brand.address = "Acme Ltd, Hauptstr. 1, 10115 Berlin"
    brand.contact_email = "privacy@acme.example"
    brand.save()
    launches.description = "Huge launch discounts, every week!"  # promotion never reaches the email
    launches.save()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = ask(brand, news_version)
        assert mail.outbox == []  # nothing leaves before the transaction commits
    assert len(callbacks) == 1

    [message] = mail.outbox
    assert message.to == ["ada@example.com"]
    assert message.from_email == "Acme Ltd <no-reply@localhost>"
    assert message.reply_to == ["privacy@acme.example"]
    assert message.subject == "Please confirm your subscription to Acme Ltd"
    assert message.extra_headers["Content-Language"] == "en"
    assert message.extra_headers["Auto-Submitted"] == "auto-generated"
    assert "List-Unsubscribe" not in message.extra_headers  # not a list mail
    text_links, html_links = links(message)
    assert text_links == html_links == ["https://candor.test/p/acme/c/launches-email"]
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert '<html lang="en">' in html
    assert "<img" not in html
    for part in (message.body, html):
        assert "Launches" in part
        assert "discount" not in part.lower()
        assert "Acme Ltd, Hauptstr. 1, 10115 Berlin" in part  # the sender, identified
        assert "25 November 2026" in part or "Nov. 25, 2026" in part  # 72 hours from the request
    # The request is pending and nothing is granted until the link is used.
    assert [row.pk for row in result.pending] == [Subscription.objects.get().pk]
    row = Subscription.objects.get()
    assert (row.status, row.confirmation_requested_at, row.confirmation_sent_at) == ("pending", NOW, NOW)
    assert ledger(contact) == []


def test_several_topics_asked_at_once_share_one_email_with_a_link_each(
    brand, contact, launches, news_version, news_purpose, make_topic, django_capture_on_commit_callbacks
):
    make_topic(brand, "betas", news_purpose, channels=["email"], double_opt_in=True, position=4)
    with django_capture_on_commit_callbacks(execute=True):
        ask(brand, news_version, "betas", "launches")
    [message] = mail.outbox
    assert links(message)[0] == [
        "https://candor.test/p/acme/c/launches-email",
        "https://candor.test/p/acme/c/betas-email",
    ]


@pytest.mark.parametrize(
    ("locale", "brand_language", "language", "topic_name"),
    [
        ("de-AT", "en", "de", "Produktstarts"),
        ("fr_CA", "en", "fr", "Lancements"),
        ("es", "de", "de", "Produktstarts"),  # no Spanish: the brand's language
        ("", "en", "en", "Launches"),
    ],
)
def test_the_email_speaks_the_contacts_language(
    brand,
    contact,
    launches,
    news_version,
    django_capture_on_commit_callbacks,
    locale,
    brand_language,
    language,
    topic_name,
):
    brand.default_language = brand_language
    brand.save()
    launches.translations = {"de": {"name": "Produktstarts"}, "fr": {"name": "Lancements"}}
    launches.save()
    contact_upsert(brand=brand, external_id="cust-1", locale=locale)

    with django_capture_on_commit_callbacks(execute=True):
        ask(brand, news_version)

    [message] = mail.outbox
    with translation.override(language):
        subject = translation.gettext("Please confirm your subscription to %(brand)s") % {"brand": "Acme Ltd"}
    assert message.subject == subject
    assert message.extra_headers["Content-Language"] == language
    assert f'<html lang="{language}">' in message.alternatives[0][0]
    assert topic_name in message.body


def test_a_rejected_change_sends_nothing(brand, contact, launches, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(Unprocessable):
        services.preferences_update_with_confirmation(
            confirm_url_builder=builder,
            brand=brand,
            external_id="cust-1",
            method="preference_centre",
            recorded_by="hosted:centre",
            subscriptions=[SubscriptionChange(topic="launches", channel="email", status="subscribed")],
        )
    assert (callbacks, mail.outbox) == ([], [])
    assert counts()["subscriptions"] == 0


def test_no_address_no_email_and_nothing_claimed(
    brand, launches, news_version, django_capture_on_commit_callbacks
):
    contact_upsert(brand=brand, external_id="cust-7", phone="+4915123456789")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = ask(brand, news_version, external_id="cust-7")
    assert (callbacks, mail.outbox) == ([], [])
    assert [row.confirmation_sent_at for row in result.pending] == [None]


def test_pending_sms_rows_are_not_confirmed_by_email(
    brand, contact, news_purpose, news_version, make_topic, django_capture_on_commit_callbacks
):
    """An email proves the address, not the phone number (BGH I ZR 164/09)."""
    make_topic(brand, "sms-launches", news_purpose, channels=["sms"], double_opt_in=True)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = ask(brand, news_version, "sms-launches", channel="sms")
    assert [row.status for row in result.pending] == ["pending"]
    assert (callbacks, mail.outbox) == ([], [])


def test_a_failed_send_after_commit_is_logged_without_the_address(
    brand, contact, launches, news_version, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    def refuse(self, fail_silently=False):
        raise SMTPRecipientsRefused({"ada@example.com": (550, b"no such user")})

    monkeypatch.setattr(EmailMultiAlternatives, "send", refuse)
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        ask(brand, news_version)  # does not raise: the change committed

    assert Subscription.objects.get().status == "pending"
    assert f"contact {contact.pk} not sent: SMTPRecipientsRefused" in caplog.text
    assert "ada@example.com" not in caplog.text


def test_a_row_confirmed_or_unsubscribed_before_the_send_gets_no_mail(brand, contact, launches, news_version):
    result = ask(brand, news_version)
    services.subscription_unsubscribe(
        brand=brand,
        external_id="cust-1",
        topic_slug="launches",
        channel="email",
        method="preference_centre",
        recorded_by="test",
    )
    sent = confirmation_send(
        brand=brand, contact=contact, pending_rows=result.pending, confirm_url_builder=builder
    )
    assert (sent, mail.outbox) == (None, [])


def test_the_hosted_pages_link_is_a_signed_confirm_link_for_the_row(
    brand, contact, launches, news_version, django_capture_on_commit_callbacks, settings
):
    from preferences.tokens import LinkKind, token_read

    result = services.preferences_update(
        brand=brand,
        external_id="cust-1",
        method="preference_centre",
        recorded_by="hosted:centre",
        subscriptions=[
            SubscriptionChange(
                topic="launches", channel="email", status="subscribed", notice_version=news_version.public_id
            )
        ],
    )
    with django_capture_on_commit_callbacks(execute=True):
        claimed = services.confirmation_schedule(
            brand=brand, contact=contact, rows=result.pending, confirm_url_builder=confirm_url
        )
    assert claimed == result.pending
    [message] = mail.outbox
    [url] = links(message)[0]
    prefix = f"{settings.PUBLIC_BASE_URL}/p/acme/c/"
    assert url.startswith(prefix)
    claims = token_read(url.removeprefix(prefix), kind=LinkKind.CONFIRM)
    assert (claims.contact_id, claims.topic_id, claims.channel) == (contact.pk, launches.pk, "email")


# --- Asking again and resending -------------------------------------------------------------------


def test_asking_again_within_ten_minutes_sends_no_second_email(
    brand, contact, launches, news_version, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ask(brand, news_version)
        again = ask(brand, news_version, at=NOW + timedelta(minutes=9))
        assert len(again.pending) == 1  # still pending, handed back …
    assert len(mail.outbox) == 1  # … but no flood
    with django_capture_on_commit_callbacks(execute=True):
        ask(brand, news_version, at=NOW + timedelta(minutes=10))
    assert len(mail.outbox) == 2
    row = Subscription.objects.get()
    assert row.confirmation_requested_at == NOW  # the request keeps its start: early links stay good


def test_resend_waits_ten_minutes_per_contact_and_topic(
    brand, contact, launches, news_version, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ask(brand, news_version)

    with (
        time_machine.travel(NOW + timedelta(minutes=4), tick=False),
        pytest.raises(ConfirmationTooSoon) as caught,
    ):
        services.confirmation_resend(
            brand=brand, contact=contact, topic_slug="launches", confirm_url_builder=builder
        )
    assert (caught.value.status, caught.value.retry_after) == (429, 360)
    assert len(mail.outbox) == 1

    with (
        time_machine.travel(NOW + timedelta(minutes=10), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        resent = services.confirmation_resend(
            brand=brand, contact=contact, topic_slug="launches", confirm_url_builder=builder
        )
    assert [row.topic_id for row in resent] == [launches.pk]
    assert len(mail.outbox) == 2
    assert mail.outbox[1].to == ["ada@example.com"]
    assert links(mail.outbox[1])[0] == ["https://candor.test/p/acme/c/launches-email"]
    assert Subscription.objects.get().confirmation_sent_at == NOW + timedelta(minutes=10)

    with time_machine.travel(NOW + timedelta(minutes=11), tick=False), pytest.raises(ConfirmationTooSoon):
        services.confirmation_resend(
            brand=brand, contact=contact, topic_slug="launches", confirm_url_builder=builder
        )
    assert ledger(contact) == []


def test_resend_needs_a_pending_request_that_has_not_expired(brand, contact, launches, news_version, orders):
    with pytest.raises(Unprocessable):
        services.confirmation_resend(
            brand=brand, contact=contact, topic_slug="launches", confirm_url_builder=builder
        )
    with pytest.raises(Unprocessable):
        services.confirmation_resend(
            brand=brand, contact=contact, topic_slug="nope", confirm_url_builder=builder
        )
    ask(brand, news_version)
    with time_machine.travel(NOW + timedelta(hours=72), tick=False), pytest.raises(ConfirmationExpired):
        services.confirmation_resend(
            brand=brand, contact=contact, topic_slug="launches", confirm_url_builder=builder
        )
    assert len(mail.outbox) == 0  # the on-commit send never ran in this test


# --- Confirming ---------------------------------------------------------------------------------


def test_a_confirm_link_works_once_and_records_the_grant_with_its_evidence(
    brand, contact, launches, news_version
):
    ask(brand, news_version)
    before = counts()
    confirmed_at = NOW + timedelta(hours=5)

    result = confirm(brand, contact, launches, issued_at=NOW, at=confirmed_at)

    assert ledger(contact) == [(1, "product-news", "granted", "preference_centre", news_version.public_id)]
    [event] = result.consent_events
    assert (event.occurred_at, event.recorded_by) == (
        confirmed_at,
        "hosted:confirm-link (confirm_subscription/1)",
    )
    evidence = ConsentEvidence.objects.get(event=event)
    assert (evidence.ip, evidence.user_agent, evidence.page_url) == (
        "203.0.113.0",
        "Mail app browser",
        "https://c.test/p/acme/c/",
    )
    row = Subscription.objects.get()
    assert (row.status, row.occurred_at, row.confirmation_requested_at, row.confirmation_sent_at) == (
        "subscribed",
        confirmed_at,
        None,
        None,
    )
    assert [kind for _, kind, _ in outbox(contact)] == [
        "preferences.updated",
        "consent.granted",
        "preferences.updated",
    ]

    after = counts()
    with pytest.raises(ConfirmationUsed) as caught:
        confirm(brand, contact, launches, issued_at=NOW, at=confirmed_at + timedelta(minutes=1))
    assert caught.value.code == "confirmation-used"
    assert "already used" in caught.value.detail
    assert counts() == after  # the second use wrote nothing
    assert after["ledger"] == before["ledger"] + 1


def test_a_confirm_link_expires_72_hours_after_the_request(brand, contact, launches, news_version):
    ask(brand, news_version)
    before = counts()
    with pytest.raises(ConfirmationExpired) as caught:
        confirm(brand, contact, launches, issued_at=NOW, at=NOW + timedelta(hours=72))
    assert (caught.value.status, caught.value.code) == (410, "confirmation-expired")
    assert counts() == before
    assert Subscription.objects.get().status == "pending"

    # One second earlier it would still have worked.
    result = confirm(
        brand, contact, launches, issued_at=NOW, at=NOW + timedelta(hours=72) - timedelta(seconds=1)
    )
    assert len(result.confirmed) == 1


def test_a_link_from_an_earlier_request_does_not_confirm_a_newer_one(brand, contact, launches, news_version):
    ask(brand, news_version)
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        services.subscription_unsubscribe(
            brand=brand,
            external_id="cust-1",
            topic_slug="launches",
            channel="email",
            method="preference_centre",
            recorded_by="test",
        )
    ask(brand, news_version, at=NOW + timedelta(hours=2))
    with pytest.raises(ConfirmationUsed) as caught:
        confirm(brand, contact, launches, issued_at=NOW, at=NOW + timedelta(hours=3))
    assert "earlier request" in caught.value.detail
    # The link of the new request works.
    confirm(brand, contact, launches, issued_at=NOW + timedelta(hours=2), at=NOW + timedelta(hours=3))
    assert Subscription.objects.get().status == "subscribed"


def test_a_link_for_an_unsubscribed_request_is_no_longer_valid(brand, contact, launches, news_version):
    ask(brand, news_version)
    services.subscription_unsubscribe(
        brand=brand,
        external_id="cust-1",
        topic_slug="launches",
        channel="email",
        method="preference_centre",
        recorded_by="test",
    )
    with pytest.raises(ConfirmationUsed) as caught:
        confirm(brand, contact, launches, issued_at=NOW, at=NOW + timedelta(hours=1))
    assert "not valid any more" in caught.value.detail
    assert ledger(contact) == []


def test_confirming_without_a_link_skips_expired_requests(brand, contact, launches, news_version):
    ask(brand, news_version)
    with time_machine.travel(NOW + timedelta(hours=73), tick=False):
        result = services.subscription_confirm(
            brand=brand, external_id="cust-1", method="preference_centre", recorded_by="test"
        )
    assert (result.confirmed, result.consent_events) == ([], [])
    assert Subscription.objects.get().status == "pending"


def test_asking_again_after_expiry_starts_a_new_request(
    brand, contact, launches, news_version, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ask(brand, news_version)
    later = NOW + timedelta(hours=80)
    with django_capture_on_commit_callbacks(execute=True):
        ask(brand, news_version, at=later)
    assert len(mail.outbox) == 2
    row = Subscription.objects.get()
    assert (row.confirmation_requested_at, row.confirmation_sent_at) == (later, later)
    confirm(brand, contact, launches, issued_at=later, at=later + timedelta(hours=1))
    assert Subscription.objects.get().status == "subscribed"
