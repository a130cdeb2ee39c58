"""Single-use, 10-minute codes before downloading, erasing or changing the email address."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from consent.erasure import contact_erase
from consent.services import contact_upsert
from preferences.models import StepUpCode
from preferences.step_up import StepUpRefused, step_up_start, step_up_verify

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _code(message) -> str:
    found = re.findall(r"^(\d{6})$", message.body, re.MULTILINE)
    assert len(found) == 1, message.body
    return found[0]


def test_a_code_goes_to_the_current_address_and_works_once(
    brand, contact, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sent = step_up_start(brand=brand, contact=contact, action="export")

    local, domain = contact.email.split("@")
    assert sent.sent_to == f"{local[0]}•••@{domain}"  # enough to recognise, not to read
    assert sent.expires_at == NOW + timedelta(minutes=10)
    [message] = mail.outbox
    assert message.to == [contact.email]
    assert message.subject == "Your security code for Acme Ltd"
    code = _code(message)
    row = StepUpCode.objects.get()
    assert code not in row.code_hmac
    assert len(row.code_hmac) == 64

    used = step_up_verify(contact=contact, action="export", code=code)

    assert used.pk == row.pk
    assert used.used_at == NOW
    with pytest.raises(StepUpRefused) as again:
        step_up_verify(contact=contact, action="export", code=code)
    assert again.value.reason == StepUpRefused.NONE


def test_a_code_is_bound_to_its_action(brand, contact, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        step_up_start(brand=brand, contact=contact, action="export")
    code = _code(mail.outbox[0])

    with pytest.raises(StepUpRefused) as refused:
        step_up_verify(contact=contact, action="erase", code=code)

    assert refused.value.reason == StepUpRefused.NONE
    assert step_up_verify(contact=contact, action="export", code=code).action == "export"


def test_a_code_expires_after_ten_minutes(brand, contact, clock, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        step_up_start(brand=brand, contact=contact, action="erase")
    code = _code(mail.outbox[0])

    clock.shift(timedelta(minutes=10))

    with pytest.raises(StepUpRefused) as refused:
        step_up_verify(contact=contact, action="erase", code=code)
    assert refused.value.reason == StepUpRefused.EXPIRED


def test_wrong_tries_count_and_the_fifth_kills_the_code(brand, contact, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        step_up_start(brand=brand, contact=contact, action="export")
    code = _code(mail.outbox[0])
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    reasons = []
    for _ in range(5):
        with pytest.raises(StepUpRefused) as refused:
            step_up_verify(contact=contact, action="export", code=wrong)
        reasons.append(refused.value.reason)

    assert reasons == ["wrong"] * 4 + ["exhausted"]
    assert StepUpCode.objects.get().attempts == 5
    with pytest.raises(StepUpRefused) as late:
        step_up_verify(contact=contact, action="export", code=code)  # even the right one, now
    assert late.value.reason == StepUpRefused.NONE


def test_spaces_in_a_pasted_code_are_ignored(brand, contact, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        step_up_start(brand=brand, contact=contact, action="export")
    code = _code(mail.outbox[0])

    assert step_up_verify(contact=contact, action="export", code=f" {code[:3]} {code[3:]} ")


def test_a_new_code_replaces_the_earlier_one(brand, contact, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        step_up_start(brand=brand, contact=contact, action="export")
        step_up_start(brand=brand, contact=contact, action="export")
    first, second = (_code(message) for message in mail.outbox)

    if first != second:  # one in a million they are equal; then only the second row is live
        with pytest.raises(StepUpRefused):
            step_up_verify(contact=contact, action="export", code=first)
    assert step_up_verify(contact=contact, action="export", code=second)


def test_codes_are_limited_per_hour(brand, contact, clock, settings):
    settings.STEP_UP_CODES_PER_HOUR = 2
    step_up_start(brand=brand, contact=contact, action="export")
    step_up_start(brand=brand, contact=contact, action="erase")

    with pytest.raises(StepUpRefused) as refused:
        step_up_start(brand=brand, contact=contact, action="export")

    assert refused.value.reason == StepUpRefused.TOO_MANY
    assert StepUpCode.objects.count() == 2
    clock.shift(timedelta(hours=1, seconds=1))
    assert step_up_start(brand=brand, contact=contact, action="export")


def test_a_change_of_address_sends_the_code_to_the_new_address(
    brand, contact, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sent = step_up_start(brand=brand, contact=contact, action="email", new_email="new@example.org")

    assert sent.sent_to == "n•••@example.org"
    [message] = mail.outbox
    assert message.to == ["new@example.org"]
    used = step_up_verify(contact=contact, action="email", code=_code(message))
    assert used.new_email == "new@example.org"


def test_no_address_no_code(brand):
    without, _ = contact_upsert(brand=brand, external_id="cust-9")

    with pytest.raises(StepUpRefused) as refused:
        step_up_start(brand=brand, contact=without, action="export")

    assert refused.value.reason == StepUpRefused.NO_ADDRESS
    assert not StepUpCode.objects.exists()


@pytest.mark.parametrize(
    ("language", "subject"),
    [("de", "Ihr Sicherheitscode für Acme Ltd"), ("fr", "Votre code de sécurité pour Acme Ltd")],
)
def test_the_email_speaks_the_contacts_language(
    brand, contact, language, subject, django_capture_on_commit_callbacks
):
    contact.locale = language
    contact.save(update_fields=["locale"])

    with django_capture_on_commit_callbacks(execute=True):
        step_up_start(brand=brand, contact=contact, action="erase")

    assert mail.outbox[0].subject == subject


def test_erasure_deletes_the_codes_and_the_new_address(brand, contact):
    step_up_start(brand=brand, contact=contact, action="email", new_email="new@example.org")

    contact_erase(brand=brand, contact=contact, requested_via="api")

    assert not StepUpCode.objects.exists()
