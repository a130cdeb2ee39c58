"""Quiz traits downstream, and correcting and deleting answers (quizzes.statements): the exact
statements written and the exact events sent, gated by the contact's consent for the
question's purpose."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from brands.models import Brand
from config.errors import NotFound, Unprocessable
from consent.models import Contact, Purpose
from consent.services import consents_expire, contact_upsert
from quizzes.models import Answer, QuizVersion, Trait
from quizzes.statements import answer_correct, answer_delete
from quizzes.told_us import told_us_list
from sync.models import Event
from tests.quizzes.told_us_support import ALL_YES, T0, T1, complete, decide

pytestmark = pytest.mark.django_db


def events(contact: Contact) -> list[Event]:
    return list(Event.objects.filter(contact_ref=contact.pk).order_by("sequence"))


def statements(contact: Contact, key: str) -> list[tuple[str, str, object, dt.datetime]]:
    return list(
        Answer.objects.filter(contact=contact, question__key=key)
        .order_by("recorded_at", "id")
        .values_list("kind", "source", "value", "recorded_at")
    )


def traits(contact: Contact) -> list[tuple[str, object, str, str]]:
    rows = Trait.objects.filter(contact=contact).values_list("key", "value", "kind", "source")
    return sorted(rows, key=lambda row: (row[0], str(row[1])))


@pytest.fixture
def granted(contact: Contact, personalisation: Purpose) -> Contact:
    with time_machine.travel(T0 - dt.timedelta(hours=1), tick=False):
        decide(contact, personalisation, "granted")
    return contact


# --- quiz.completed -----------------------------------------------------------------------------


def test_quiz_completed_carries_the_traits_of_a_consented_purpose(
    live_version: QuizVersion, granted: Contact
):
    with time_machine.travel(T0, tick=False):
        done = complete(live_version, granted)
    assert [e.type for e in events(granted)] == [
        "consent.granted",
        "consent.granted",
        "preferences.updated",
        "quiz.completed",
    ]
    assert done.event.data == {
        "contact": "cust-1",
        "sequence": 4,
        "quiz": live_version.quiz.public_id,
        "version": 1,
        "response": done.response.public_id,
        "outcome": "racer",
        "answered": ["goal", "level", "kit", "news"],
        "occurred_at": "2026-12-01T09:30:00.000000Z",
        "traits": {"goal": "run a marathon", "fitness": 4},
    }


def test_quiz_completed_leaves_out_traits_whose_purpose_was_withdrawn_or_has_expired(
    live_version: QuizVersion, granted: Contact, personalisation: Purpose
):
    decide(granted, personalisation, "withdrawn")
    done = complete(live_version, granted)
    assert done.event.data["traits"] == {}
    assert Trait.objects.filter(contact=granted).count() == 2  # kept in Candor, not sent

    later, _ = contact_upsert(brand=granted.brand, external_id="cust-2")
    with time_machine.travel(T0, tick=False):
        decide(later, personalisation, "granted")
    from consent.models import ConsentState

    ConsentState.objects.filter(contact=later).update(expires_at=T0 + dt.timedelta(days=1))
    with time_machine.travel(T1, tick=False):  # past the expiry, before the expiry task ran
        done = complete(live_version, later)
    assert done.event.data["traits"] == {}


# --- Withdrawal and expiry: traits.forgotten ------------------------------------------------


def test_a_withdrawal_of_a_purpose_with_traits_tells_downstream_to_forget_them(
    live_version: QuizVersion, granted: Contact, personalisation: Purpose
):
    with time_machine.travel(T0, tick=False):
        complete(live_version, granted)
    with time_machine.travel(T1, tick=False):
        decide(granted, personalisation, "withdrawn")
    withdrawn, forgotten = events(granted)[-2:]
    assert (withdrawn.type, withdrawn.sequence) == ("consent.withdrawn", 5)
    assert forgotten.type == "traits.forgotten"
    assert forgotten.data == {
        "contact": "cust-1",
        "sequence": 6,
        "purpose": "personalisation",
        "traits": ["fitness", "goal"],
        "reason": "withdrawn",
        "quiz": None,
        "question": None,
        "occurred_at": "2026-12-03T14:00:00.000000Z",
    }
    granted.refresh_from_db()
    assert granted.event_sequence == 6
    # Withdrawing another purpose (email marketing: no traits) forgets nothing.
    count = Event.objects.filter(type="traits.forgotten").count()
    decide(granted, Purpose.objects.get(brand=granted.brand, slug="email-marketing"), "withdrawn")
    assert Event.objects.filter(type="traits.forgotten").count() == count


def test_a_withdrawal_without_traits_under_the_purpose_sends_no_forget(
    granted: Contact, personalisation: Purpose
):
    decide(granted, personalisation, "withdrawn")
    assert [e.type for e in events(granted)] == ["consent.granted", "consent.withdrawn"]


def test_an_expiry_forgets_the_traits_with_reason_expired(
    live_version: QuizVersion, contact: Contact, personalisation: Purpose
):
    Purpose.objects.filter(pk=personalisation.pk).update(lifetime_days=30)
    with time_machine.travel(T0, tick=False):
        decide(contact, personalisation, "granted")
        complete(live_version, contact)
    with time_machine.travel(T0 + dt.timedelta(days=31), tick=False):
        assert consents_expire() == 1
    expired, forgotten = events(contact)[-2:]
    assert expired.type == "consent.expired"
    assert (forgotten.type, forgotten.data["reason"], forgotten.data["traits"]) == (
        "traits.forgotten",
        "expired",
        ["fitness", "goal"],
    )
    assert forgotten.data["occurred_at"] == "2026-12-31T09:30:00.000000Z"  # when the grant ran out


def test_the_withdrawal_hook_costs_one_query_without_traits_whatever_the_number_of_traits(
    live_version: QuizVersion, granted: Contact, personalisation: Purpose, django_assert_num_queries
):
    """The hook's reads are the same for 2 traits as for none: one query, plus the outbox
    statement when there is something to forget."""
    other, _ = contact_upsert(brand=granted.brand, external_id="cust-2")
    decide(other, personalisation, "granted")
    complete(live_version, granted)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as without:
        decide(other, personalisation, "withdrawn")
    with CaptureQueriesContext(connection) as with_traits:
        decide(granted, personalisation, "withdrawn")
    assert len(with_traits.captured_queries) == len(without.captured_queries) + 1


# --- Corrections: traits.updated --------------------------------------------------------------


def test_a_correction_is_a_new_statement_keeps_the_history_and_sends_traits_updated(
    live_version: QuizVersion, granted: Contact
):
    with time_machine.travel(T0, tick=False):
        complete(live_version, granted)
    with time_machine.travel(T1, tick=False):
        done = answer_correct(
            brand=granted.brand,
            contact=granted,
            quiz_public_id=live_version.quiz.public_id,
            question_key="level",
            value="2",
        )
    assert statements(granted, "level") == [
        ("answered", "quiz", 4, T0),
        ("corrected", "preference_centre", 2, T1),
    ]
    assert traits(granted) == [
        ("fitness", 2, "corrected", "preference_centre"),
        ("fitness", 4, "answered", "quiz"),
        ("goal", "run a marathon", "answered", "quiz"),
    ]
    assert done.event is not None
    assert (done.event.type, done.event.data) == (
        "traits.updated",
        {
            "contact": "cust-1",
            "sequence": 5,
            "purpose": "personalisation",
            "traits": {"fitness": 2},
            "removed": [],
            "source": "preference_centre",
            "quiz": live_version.quiz.public_id,
            "question": "level",
            "occurred_at": "2026-12-03T14:00:00.000000Z",
        },
    )
    assert events(granted)[-1] == done.event
    (item,) = [
        i for i in told_us_list(brand=granted.brand, contact=granted, language="en") if i.key == "level"
    ]
    assert (item.latest.value, [s.value for s in item.history]) == (2, [4])


def test_a_correction_to_an_option_without_the_trait_removes_it(live_version: QuizVersion, granted: Contact):
    complete(live_version, granted)
    done = answer_correct(
        brand=granted.brand,
        contact=granted,
        quiz_public_id=live_version.quiz.public_id,
        question_key="goal",
        value="fit",
    )
    assert done.event is not None
    assert (done.event.data["traits"], done.event.data["removed"]) == ({}, ["goal"])
    assert ("goal", None, "deleted", "preference_centre") in traits(granted)


def test_a_correction_under_a_purpose_without_consent_sends_nothing(
    live_version: QuizVersion, contact: Contact
):
    complete(live_version, contact)
    before = [e.pk for e in events(contact)]
    done = answer_correct(
        brand=contact.brand,
        contact=contact,
        quiz_public_id=live_version.quiz.public_id,
        question_key="level",
        value=1,
    )
    assert done.event is None
    assert done.answer is not None
    assert [e.pk for e in events(contact)] == before


def test_a_correction_to_the_same_value_or_an_invalid_one_writes_nothing(
    live_version: QuizVersion, granted: Contact
):
    complete(live_version, granted)
    quiz = live_version.quiz.public_id
    rows, trait_rows, event_count = Answer.objects.count(), Trait.objects.count(), Event.objects.count()
    same = answer_correct(
        brand=granted.brand, contact=granted, quiz_public_id=quiz, question_key="level", value=4
    )
    assert (same.answer, same.event) == (None, None)
    for key, value in (("level", 9), ("goal", "nope"), ("level", "")):
        with pytest.raises(Unprocessable):
            answer_correct(
                brand=granted.brand, contact=granted, quiz_public_id=quiz, question_key=key, value=value
            )
    with pytest.raises(NotFound):  # a consent answer is the ledger's, changed with the purpose
        answer_correct(
            brand=granted.brand, contact=granted, quiz_public_id=quiz, question_key="news", value=False
        )
    assert (Answer.objects.count(), Trait.objects.count(), Event.objects.count()) == (
        rows,
        trait_rows,
        event_count,
    )


# --- Deletion: recorded, traits.forgotten -----------------------------------------------------


def test_deleting_an_answer_deletes_its_history_and_traits_keeps_a_record_and_sends_traits_forgotten(
    live_version: QuizVersion, granted: Contact
):
    quiz = live_version.quiz.public_id
    with time_machine.travel(T0, tick=False):
        complete(live_version, granted)
        answer_correct(
            brand=granted.brand, contact=granted, quiz_public_id=quiz, question_key="goal", value="fit"
        )
        answer_correct(
            brand=granted.brand, contact=granted, quiz_public_id=quiz, question_key="goal", value="marathon"
        )
    with time_machine.travel(T1, tick=False):
        done = answer_delete(brand=granted.brand, contact=granted, quiz_public_id=quiz, question_key="goal")
    assert done.deleted == 3
    assert statements(granted, "goal") == [("deleted", "preference_centre", None, T1)]
    assert traits(granted) == [("fitness", 4, "answered", "quiz")]  # the other question's stays
    assert (done.event.type, done.event.data) == (
        "traits.forgotten",
        {
            "contact": "cust-1",
            "sequence": done.event.sequence,
            "purpose": "personalisation",
            "traits": ["goal"],
            "reason": "deleted",
            "quiz": quiz,
            "question": "goal",
            "occurred_at": "2026-12-03T14:00:00.000000Z",
        },
    )
    assert events(granted)[-1] == done.event
    assert [i.key for i in told_us_list(brand=granted.brand, contact=granted, language="en")] == [
        "level",
        "kit",
    ]
    with pytest.raises(NotFound):
        answer_delete(brand=granted.brand, contact=granted, quiz_public_id=quiz, question_key="goal")
    with pytest.raises(NotFound):
        answer_correct(
            brand=granted.brand, contact=granted, quiz_public_id=quiz, question_key="goal", value="fit"
        )


def test_deleting_an_answer_without_traits_is_still_recorded_and_sent(
    live_version: QuizVersion, contact: Contact
):
    complete(live_version, contact)
    done = answer_delete(
        brand=contact.brand, contact=contact, quiz_public_id=live_version.quiz.public_id, question_key="kit"
    )
    assert (done.traits, done.event.data["traits"], done.event.data["reason"]) == ([], [], "deleted")
    assert statements(contact, "kit") == [("deleted", "preference_centre", None, done.record.recorded_at)]


# --- Tenant isolation -------------------------------------------------------------------------


def test_another_brands_contact_or_another_contact_reaches_no_answer(
    live_version: QuizVersion, contact: Contact, other_brand: Brand
):
    complete(live_version, contact)
    quiz = live_version.quiz.public_id
    outsider, _ = contact_upsert(brand=other_brand, external_id="cust-1")
    neighbour, _ = contact_upsert(brand=contact.brand, external_id="cust-2")
    for brand, who in ((other_brand, outsider), (contact.brand, neighbour), (other_brand, contact)):
        with pytest.raises(NotFound):
            answer_delete(brand=brand, contact=who, quiz_public_id=quiz, question_key="goal")
        with pytest.raises(NotFound):
            answer_correct(brand=brand, contact=who, quiz_public_id=quiz, question_key="goal", value="fit")
        assert told_us_list(brand=brand, contact=who, language="en") == []
    assert statements(contact, "goal") == [
        ("answered", "quiz", "marathon", Answer.objects.get(question__key="goal").recorded_at)
    ]


def test_an_anonymous_answer_is_no_ones_to_list(live_version: QuizVersion, contact: Contact):
    complete(live_version, None, ALL_YES)
    assert told_us_list(brand=contact.brand, contact=contact, language="en") == []
