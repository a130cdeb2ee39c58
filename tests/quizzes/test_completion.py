"""Finishing a quiz: the response, its answers as dated statements, traits, consent grants and
subscriptions through the preference services, one `quiz.completed` event, funnel counts, and
who a response belongs to (a signed quiz token or an entered email, never a bare id)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import time_machine

from brands.models import Brand
from consent.models import ConsentEvent, Contact, Purpose
from consent.services import EvidenceInput, contact_upsert
from preferences.models import Subscription, Topic
from quizzes.models import Answer, FunnelCount, QuizVersion, Response, Trait
from quizzes.responses import answer_steps, funnel_count, response_complete, response_save
from quizzes.services import quiz_create, quiz_publish
from sync.models import Event
from tests.actors import TEST_ACTOR
from tests.roundtrips import round_trips

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
EVIDENCE = EvidenceInput(ip="203.0.113.0", user_agent="Firefox/140", page_url="http://testserver/q/x/")
ALL_YES = {"goal": "marathon", "level": 4, "kit": ["shoes"], "news": True}


def complete(version: QuizVersion, answers: dict[str, Any], **kwargs: Any) -> Any:
    arguments: dict[str, Any] = {
        "brand": version.quiz.brand,
        "version": version,
        "answers": answers,
        "outcome": "racer",
        "started_at": T0,
        "token_contact_id": None,
        "utm": {"utm_source": "newsletter"},
        "evidence": EVIDENCE,
        **kwargs,
    }
    return response_complete(**arguments)


def funnel(version: QuizVersion) -> list[tuple[str, str, int]]:
    return [
        (row.day.isoformat(), row.step, row.count)
        for row in FunnelCount.objects.filter(version=version).order_by("day", "step")
    ]


# --- Funnel counts --------------------------------------------------------------------------


def test_funnel_counts_add_up_per_step_and_utc_day(live_version: QuizVersion):
    funnel_count(version_id=live_version.pk, steps=["viewed"], at=T0)
    funnel_count(version_id=live_version.pk, steps=["viewed", "started", "answered:goal"], at=T0)
    # 23:30 in Berlin on the 1st is the 1st in UTC; one minute past midnight UTC is the 2nd.
    funnel_count(
        version_id=live_version.pk, steps=["viewed"], at=dt.datetime(2026, 12, 2, 0, 1, tzinfo=dt.UTC)
    )
    funnel_count(version_id=live_version.pk, steps=["started", "started"], at=T0)  # once per call
    assert funnel(live_version) == [
        ("2026-12-01", "answered:goal", 1),
        ("2026-12-01", "started", 2),
        ("2026-12-01", "viewed", 2),
        ("2026-12-02", "viewed", 1),
    ]


def test_answer_steps_name_the_start_the_question_and_a_consent_yes(live_version: QuizVersion):
    from quizzes.document import parse

    document = parse(live_version.document)
    assert answer_steps(document=document, question_key="goal", answer="fit", first=True) == [
        "started",
        "answered:goal",
    ]
    assert answer_steps(document=document, question_key="kit", answer=None, first=False) == ["answered:kit"]
    assert answer_steps(document=document, question_key="news", answer=True, first=False) == [
        "answered:news",
        "opted_in:email-marketing",
    ]
    assert answer_steps(document=document, question_key="news", answer=False, first=False) == [
        "answered:news"
    ]


# --- Quiz tokens ----------------------------------------------------------------------------


# --- Completion -----------------------------------------------------------------------------


def test_completion_with_a_quiz_token_writes_answers_traits_consent_subscription_and_one_event(
    live_version: QuizVersion, contact: Contact, personalisation: Purpose, purpose: Purpose, training: Topic
):
    with time_machine.travel(T0, tick=False):
        done = complete(live_version, ALL_YES, token_contact_id=contact.pk)

    response = Response.objects.get()
    assert (response.contact_id, response.version_id, response.outcome, response.utm) == (
        contact.pk,
        live_version.pk,
        "racer",
        {"utm_source": "newsletter"},
    )
    assert (response.started_at, response.completed_at) == (T0, T0)
    assert sorted(
        Answer.objects.values_list(
            "question__key", "question__version", "value", "contact", "recorded_at", "kind"
        )
    ) == [
        ("goal", live_version.pk, "marathon", contact.pk, T0, "answered"),
        ("kit", live_version.pk, ["shoes"], contact.pk, T0, "answered"),
        ("level", live_version.pk, 4, contact.pk, T0, "answered"),
        ("news", live_version.pk, True, contact.pk, T0, "answered"),
    ]
    assert sorted(
        Trait.objects.values_list("key", "value", "purpose", "contact", "answer__question__key")
    ) == [
        ("fitness", 4, personalisation.pk, contact.pk, "level"),
        ("goal", "run a marathon", personalisation.pk, contact.pk, "goal"),
    ]
    (grant,) = ConsentEvent.objects.filter(contact=contact)
    assert (
        grant.purpose_id,
        grant.decision,
        grant.method,
        grant.recorded_by,
        grant.notice_version.public_id,
    ) == (
        purpose.pk,
        "granted",
        "quiz",
        "hosted:quiz",
        live_version.document["questions"][3]["notice_version"],
    )
    assert (grant.evidence.user_agent, grant.evidence.page_url, grant.evidence.ip) == (
        "Firefox/140",
        "http://testserver/q/x/",
        "203.0.113.0",
    )
    assert list(
        Subscription.objects.filter(contact=contact).values_list("topic", "channel", "status", "cadence")
    ) == [(training.pk, "email", "subscribed", "weekly")]
    events = list(Event.objects.filter(contact_ref=contact.pk).order_by("sequence"))
    assert [e.type for e in events] == ["consent.granted", "preferences.updated", "quiz.completed"]
    assert events[-1].data == {
        "contact": "cust-1",
        "sequence": 3,
        "quiz": live_version.quiz.public_id,
        "version": 1,
        "response": response.public_id,
        "outcome": "racer",
        "answered": ["goal", "level", "kit", "news"],
        "occurred_at": "2026-12-01T09:30:00.000000Z",
        # The traits serve personalisation, which the contact has not consented to.
        "traits": {},
    }
    assert done.event == events[-1]
    contact.refresh_from_db()
    assert contact.event_sequence == 3


def test_an_anonymous_completion_stores_answers_and_nothing_about_anyone(
    live_version: QuizVersion, contact: Contact, brand: Brand
):
    with time_machine.travel(T0, tick=False):
        done = complete(live_version, ALL_YES)
    response = Response.objects.get()
    assert response.contact_id is None
    assert response.completed_at is not None
    assert sorted(Answer.objects.values_list("question__key", "contact")) == [
        ("goal", None),
        ("kit", None),
        ("level", None),
        ("news", None),
    ]
    assert not Trait.objects.exists()
    assert not ConsentEvent.objects.exists()
    assert not Subscription.objects.exists()
    # Funnel consumers still see the completion: on the brand's own stream, naming no one and
    # carrying no traits; no contact's sequence moves.
    (event,) = Event.objects.all()
    assert (event.type, event.contact_ref, event.subject) == ("quiz.completed", -brand.pk, "")
    assert event.data == {
        "sequence": event.sequence,
        "contact": None,
        "quiz": live_version.quiz.public_id,
        "version": 1,
        "response": response.public_id,
        "outcome": "racer",
        "answered": ["goal", "level", "kit", "news"],
        "occurred_at": "2026-12-01T09:30:00.000000Z",
    }
    assert event.sequence == int(T0.timestamp() * 1000)
    assert done.event == event
    contact.refresh_from_db()
    assert contact.event_sequence == 0


def test_a_bare_contact_id_from_another_brand_or_an_erased_contact_links_nothing(
    live_version: QuizVersion, other_brand: Brand
):
    outsider, _ = contact_upsert(brand=other_brand, external_id="theirs", email="x@example.com")
    complete(live_version, ALL_YES, token_contact_id=outsider.pk)
    assert Response.objects.get().contact_id is None
    assert not Trait.objects.exists()
    assert not ConsentEvent.objects.exists()


def test_a_consent_no_grants_nothing_and_a_subscription_without_consent_is_left_out(
    live_version: QuizVersion, contact: Contact
):
    complete(live_version, {**ALL_YES, "news": False}, token_contact_id=contact.pk)
    assert not ConsentEvent.objects.exists()
    assert not Subscription.objects.exists()
    assert sorted(Trait.objects.values_list("key", flat=True)) == ["fitness", "goal"]
    assert list(Event.objects.values_list("type", flat=True)) == ["quiz.completed"]


@pytest.fixture
def email_version(brand: Brand, quiz_document: dict[str, Any]) -> QuizVersion:
    document = {**quiz_document}
    document["questions"] = [
        *quiz_document["questions"][:3],
        {"id": "email", "type": "email", "purpose": "email-marketing", "text": {"en": "Your email?"}},
        quiz_document["questions"][3],
    ]
    quiz = quiz_create(brand=brand, actor=TEST_ACTOR, document=document)
    return quiz_publish(quiz=quiz, actor=TEST_ACTOR)


def test_an_entered_email_creates_a_contact_with_it(email_version: QuizVersion, training: Topic):
    complete(email_version, {**ALL_YES, "email": "New@Example.com"})
    contact = Contact.objects.get()
    assert contact.email == "new@example.com"
    assert contact.external_id.startswith("quiz-")
    assert Response.objects.get().contact_id == contact.pk
    assert ConsentEvent.objects.filter(contact=contact, decision="granted").count() == 1
    assert Trait.objects.filter(contact=contact).count() == 2


def test_an_entered_email_finds_the_brands_contact_with_that_address(
    email_version: QuizVersion, contact: Contact
):
    complete(email_version, {**ALL_YES, "email": "ada@example.com"})
    assert list(Contact.objects.values_list("external_id", flat=True)) == ["cust-1"]
    assert Response.objects.get().contact_id == contact.pk


def test_double_opt_in_topics_stay_pending_with_a_confirmation_email(
    live_version: QuizVersion,
    contact: Contact,
    training: Topic,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    Topic.objects.filter(pk=training.pk).update(double_opt_in=True)
    with django_capture_on_commit_callbacks(execute=True):
        complete(live_version, ALL_YES, token_contact_id=contact.pk)
    assert list(Subscription.objects.values_list("status", flat=True)) == ["pending"]
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["ada@example.com"]


def test_save_my_progress_then_completion_stores_each_answer_once(
    live_version: QuizVersion, contact: Contact
):
    saved = response_save(
        brand=live_version.quiz.brand,
        version=live_version,
        answers={"goal": "marathon", "level": 4},
        started_at=T0,
        token_contact_id=contact.pk,
        utm={},
    )
    assert (saved.completed_at, saved.contact_id) == (None, contact.pk)
    assert sorted(Answer.objects.values_list("question__key", flat=True)) == ["goal", "level"]
    assert not Trait.objects.exists()
    assert not Event.objects.filter(type="quiz.completed").exists()

    complete(
        live_version,
        ALL_YES,
        token_contact_id=contact.pk,
        response_public_id=saved.public_id,
    )
    assert Response.objects.get().completed_at is not None
    assert sorted(Answer.objects.values_list("question__key", flat=True)) == ["goal", "kit", "level", "news"]
    assert sorted(Trait.objects.values_list("key", flat=True)) == ["fitness", "goal"]


# --- A constant number of queries ---------------------------------------------------------


# Inside the test's transaction: a savepoint and its release per atomic block (4 of each),
# the questions, the token's contact, the topics, the consent states; the contact's upsert and
# ledger append (pipelined), the preference change (snapshot, notice, subscription, outbox);
# the response, the answers, the traits, the consent states that gate the event's traits, the
# quiz.completed event.
COMPLETION_ROUND_TRIPS = 23


def twenty_questions(notice_version: str) -> dict[str, Any]:
    """20 questions, 5 effects: three traits, a subscription and a score."""
    questions: list[dict[str, Any]] = []
    for index in range(17):
        effects: dict[str, Any] = {}
        if index < 3:
            effects = {"traits": {f"t{index}": f"value {index}"}}
        elif index == 3:
            effects = {"subscribe": [{"topic": "training", "channel": "email", "cadence": "monthly"}]}
        elif index == 4:
            effects = {"scores": {"only": 1}}
        questions.append(
            {
                "id": f"q{index}",
                "type": "single",
                "purpose": "personalisation",
                "text": {"en": f"Question {index}?"},
                "required": False,
                "options": [
                    {"id": "a", "label": {"en": "A"}, "effects": effects},
                    {"id": "b", "label": {"en": "B"}},
                ],
            }
        )
    questions += [
        {
            "id": "scale",
            "type": "scale",
            "purpose": "personalisation",
            "text": {"en": "How much?"},
            "scale": {"min": 1, "max": 5},
            "required": False,
        },
        {
            "id": "words",
            "type": "text",
            "purpose": "personalisation",
            "text": {"en": "Anything?"},
            "required": False,
        },
        {
            "id": "news",
            "type": "consent",
            "purpose": "email-marketing",
            "text": {"en": "Tips?"},
            "notice_version": notice_version,
        },
    ]
    return {
        "format": 1,
        "language": "en",
        "title": {"en": "Twenty"},
        "questions": questions,
        "outcomes": [{"id": "only", "title": {"en": "Done"}}],
    }


def test_completion_makes_the_same_number_of_round_trips_whatever_the_answers(
    brand: Brand,
    personalisation: Purpose,
    training: Topic,
    notice_version,
    make_brand: Callable[..., Brand],
):
    quiz = quiz_create(brand=brand, actor=TEST_ACTOR, document=twenty_questions(notice_version.public_id))
    version = quiz_publish(quiz=quiz, actor=TEST_ACTOR)
    version = QuizVersion.objects.select_related("quiz__brand").get(pk=version.pk)
    all_twenty = {f"q{i}": "a" for i in range(17)} | {"scale": 3, "words": "hello", "news": True}
    two = {"q0": "a", "q3": "a", "news": True}
    counts = []
    # The first run warms what each process remembers (prepared statements, the brand's
    # endpoints, type oids); the two after it are the ones compared.
    for number, answers in enumerate((all_twenty, all_twenty, two)):
        contact, _ = contact_upsert(brand=brand, external_id=f"c{number}", email=f"c{number}@example.com")
        with round_trips() as trips:
            complete(version, answers, token_contact_id=contact.pk, outcome="only")
        counts.append(trips.count)
        assert Answer.objects.filter(contact=contact).count() == len(answers)
    assert Trait.objects.filter(contact__external_id="c1").count() == 3
    assert Subscription.objects.filter(contact__external_id="c1").count() == 1
    assert counts[1:] == [COMPLETION_ROUND_TRIPS, COMPLETION_ROUND_TRIPS], counts


def test_erasing_the_contact_removes_its_responses_answers_and_traits(
    live_version: QuizVersion, contact: Contact, brand: Brand, training: Topic
):
    """Erasure (GDPR Art. 17) deletes what the person told the brand in quizzes: their
    responses, every answer (a typed address among them) and every trait taken from them. The
    anonymous funnel counts stay: they name no one."""
    from consent.erasure import contact_erase

    complete(live_version, ALL_YES, token_contact_id=contact.pk)
    funnel = sorted(FunnelCount.objects.values_list("step", "count"))
    report = contact_erase(brand=brand, contact=contact, requested_via="api")
    counts = {label: n for label, n in report.deleted.items() if label.startswith("quizzes.")}
    assert counts == {"quizzes.Response": 1, "quizzes.Answer": 4, "quizzes.Trait": 2}
    assert not Response.objects.exists()
    assert not Answer.objects.exists()
    assert not Trait.objects.exists()
    assert sorted(FunnelCount.objects.values_list("step", "count")) == funnel
