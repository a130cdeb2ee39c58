"""What a person's run through a quiz writes: anonymous funnel counts while they answer, and
their answers once they finish (or press "save my progress").

Funnel counts are per version, UTC day and step, incremented by one upsert
(`count = count + 1`); they carry nothing about the person. Steps: "viewed", "started",
"answered:<question key>", "opted_in:<purpose slug>", "completed", "outcome:<outcome id>". A run
counts each step once: the same step sent again (a reply lost, a double click, the back button)
is known by a digest of the run's random id and the step (FunnelStepCounted), kept while the
run's state lasts.

Completion is one transaction, made once per run (the run's Response id is chosen when it
starts, and a completed Response is not completed again): the Response, one Answer per answered
question (a dated statement pointing at the version's Question row), Traits from option effects
and from scale and text questions that name a `trait`, consent grants for consent questions
answered yes and the subscriptions of the chosen options (both through
`preferences.services.contact_signup`, so the ledger, double opt-in and cadence rules are the
preference centre's), and one `quiz.completed` outbox Event. Its query count does not grow with
the number of answers or effects (tests/quizzes/test_completion.py counts it).

Identity (README, "Quizzes"): a response is linked to a contact only through a signed quiz token
(its contact id travels signed in the progress token) or an email the person entered (the
contact found by that address, or created with it); otherwise it stays anonymous, with answers
but no traits, consents or subscriptions, and its `quiz.completed` (`contact: null`, no traits)
goes on the brand's own event stream.

`quiz.completed` carries the traits set, limited to purposes the contact's consent covers
(quizzes.traits).
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import secrets
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from threading import Lock, Timer
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from brands.models import Brand
from config.db import insert_from_arrays
from config.errors import NotFound
from consent.identifiers import email_hmac, normalise_email
from consent.ledger import iso_utc
from consent.models import ConsentState, Contact, Decision, Method, Suppression
from consent.services import ConsentDecision, EvidenceInput
from preferences.emails import confirm_url
from preferences.link_mail import contact_by_email
from preferences.models import Topic
from preferences.services import SubscriptionChange, contact_signup
from preferences.statements import outbox_append
from quizzes.document import Document, chosen_options, parse
from quizzes.models import Answer, FunnelCount, FunnelStepCounted, Question, QuizVersion, Response, Trait
from quizzes.traits import purposes_valid, traits_gated, traits_of
from sync.models import Event, EventType
from sync.outbox.events import brand_event_record, event_build

logger = logging.getLogger(__name__)

RECORDED_BY = "hosted:quiz"
NEW_CONTACT_PREFIX = "quiz-"  # external ids of contacts a quiz creates from an entered email

_funnel = FunnelCount._meta
_f_table = _funnel.db_table
_f_columns = {f.name: f.column for f in _funnel.concrete_fields}
_f_version, _f_day, _f_step, _f_count = (_f_columns[n] for n in ("version", "day", "step", "count"))
# Added to config.db.insert_from_arrays's INSERT of the counts (its columns from the model): a
# count already there grows by the new one.
_FUNNEL_ON_CONFLICT = (
    f'ON CONFLICT ("{_f_version}", "{_f_day}", "{_f_step}") '
    f'DO UPDATE SET "{_f_count}" = "{_f_table}"."{_f_count}" + EXCLUDED."{_f_count}"'
)
# A source beside the arrays: set_config(…, true) lasts until the end of the statement's own
# transaction, whose commit then does not wait for its WAL to reach the disk.
_UNFLUSHED = "(SELECT set_config('synchronous_commit', 'off', true)) AS unflushed, "
STEP_MAX_LENGTH = _funnel.get_field("step").max_length or 120

Count = tuple[int, date, str]  # version id, UTC day, step
_pending: Counter[Count] = Counter()  # counted in this process, not yet written
_pending_once: dict[UUID, Count] = {}  # a run's steps, counted unless counted before
_pending_lock = Lock()
_flush_timer: Timer | None = None
COUNTED_DAYS = 2  # a run's state token lasts a day (quizzes.views.STATE_SECONDS)


def funnel_count(
    *, version_id: int, steps: Sequence[str], at: datetime | None = None, run: str | None = None
) -> None:
    """Add one to each step's count for the version on the UTC day of `at` (now); concurrent
    runs add up (the upsert's row lock). With `run` (the run's random id), a step that run has
    counted before counts nothing (FunnelStepCounted).

    The counts are anonymous statistics, added on every step of every run, so a process gathers
    them for QUIZ_FUNNEL_FLUSH_SECONDS and then writes them all in one transaction
    (`funnel_flush`, from a timer thread, and when the process exits); the funnel is read at
    most that far behind, and a process killed outright loses its last second's counts, never a
    person's answers, which are written elsewhere and at once. Inside a transaction (or with 0
    seconds) a count is written at once, with that transaction."""
    unique = list(dict.fromkeys(step[:STEP_MAX_LENGTH] for step in steps))
    if not unique:
        return
    day: date = (at or timezone.now()).astimezone(UTC).date()
    counts: Counter[Count] = Counter()
    once: dict[UUID, Count] = {}
    for step in unique:
        if run:
            once[_step_digest(run, step)] = (version_id, day, step)
        else:
            counts[(version_id, day, step)] = 1
    seconds = settings.QUIZ_FUNNEL_FLUSH_SECONDS
    if seconds <= 0 or connection.in_atomic_block:
        _funnel_write(counts, once)
        return
    with _pending_lock:
        _pending.update(counts)
        _pending_once.update(once)
        _flush_later(seconds)


def _step_digest(run: str, step: str) -> UUID:
    """The run's step, as FunnelStepCounted keeps it: 16 bytes of a hash, not the run's id."""
    return UUID(bytes=hashlib.blake2b(f"{run}\n{step}".encode(), digest_size=16).digest())


def funnel_flush() -> int:
    """Write the counts this process gathered (one transaction); how many rows it added to."""
    with _pending_lock:
        counts, once = Counter(_pending), dict(_pending_once)
        _pending.clear()
        _pending_once.clear()
    try:
        return _funnel_write(counts, once)
    except Exception:
        with _pending_lock:
            _pending.update(counts)  # written with the next flush
            _pending_once.update(once)
        raise


def funnel_forget() -> None:
    """Drop the counts gathered and not written, and their timer (a test's clean-up)."""
    global _flush_timer
    with _pending_lock:
        _pending.clear()
        _pending_once.clear()
        if _flush_timer is not None:
            _flush_timer.cancel()
            _flush_timer = None


def funnel_steps_forget(*, now: datetime | None = None) -> int:
    """Forget the runs' counted steps older than any state token still valid (beat, hourly);
    how many."""
    before = (now or timezone.now()).astimezone(UTC).date() - timedelta(days=COUNTED_DAYS)
    deleted, _ = FunnelStepCounted.objects.filter(day__lt=before).delete()
    return deleted


def _funnel_write(counts: Counter[Count], once: Mapping[UUID, Count]) -> int:
    """One upsert of every count, after keeping the runs' steps not counted before (which are
    counted with the rest); how many count rows it added to. On its own (not inside a
    transaction) it commits without waiting for a disk flush (PostgreSQL's asynchronous commit,
    for this transaction only): a crash of the database server may lose the last moment's
    counts (at most three times wal_writer_delay); inside a transaction it commits with it, as
    durably as the rest (the setting would last to its end)."""
    if not counts and not once:
        return 0
    sources = "" if connection.in_atomic_block else _UNFLUSHED
    with transaction.atomic(savepoint=False):  # inside a caller's transaction: part of it
        if once:
            kept = sorted(once)  # one order for every writer: no two flushes deadlock
            with connection.cursor() as cursor:
                cursor.execute(_counted_sql(), [kept, [once[digest][1] for digest in kept]])
                fresh = [row[0] for row in cursor.fetchall()]
            counts = counts + Counter(once[digest] for digest in fresh)
        if not counts:
            return 0
        rows = sorted(counts.items())
        counted = [FunnelCount(version_id=v, day=day, step=step, count=n) for (v, day, step), n in rows]
        sql, params = insert_from_arrays(FunnelCount, counted, sources=sources)
        with connection.cursor() as cursor:
            cursor.execute(f"{sql} {_FUNNEL_ON_CONFLICT}", params)
    return len(counts)


@cache
def _counted_sql() -> str:
    """Keep a run's steps not kept before, answering which (names and types from the model). Two
    arrays rather than config.db.insert_from_arrays's model instances: a flush keeps a row per
    step of every run, and building an instance for each cost more than the statement."""
    quote = connection.ops.quote_name
    fields = {field.name: field for field in FunnelStepCounted._meta.concrete_fields}
    digest, day = fields["digest"], fields["day"]
    table = quote(FunnelStepCounted._meta.db_table)
    return (
        f"INSERT INTO {table} ({quote(digest.column)}, {quote(day.column)}) "  # noqa: S608
        f"SELECT * FROM unnest(%s::{digest.db_type(connection)}[], %s::{day.db_type(connection)}[]) "
        f"ON CONFLICT DO NOTHING RETURNING {quote(digest.column)}"
    )


def _flush_later(seconds: float) -> None:
    """Start the timer that writes the gathered counts, unless one is running (the caller holds
    _pending_lock)."""
    global _flush_timer
    if _flush_timer is None:
        _flush_timer = Timer(seconds, _flush_from_timer)
        _flush_timer.daemon = True
        _flush_timer.start()


def _flush_from_timer() -> None:
    global _flush_timer
    with _pending_lock:
        _flush_timer = None  # counts from now on start the next timer
    try:
        funnel_flush()
    except Exception:
        logger.exception("the quiz funnel's counts could not be written; they are kept for the next try")
        with _pending_lock:
            if _pending:
                _flush_later(max(settings.QUIZ_FUNNEL_FLUSH_SECONDS, 1))
    finally:
        connection.close()  # this thread's own connection


def _flush_at_exit() -> None:
    try:
        funnel_flush()
    except Exception:
        logger.exception("the quiz funnel's last counts could not be written at exit")


atexit.register(_flush_at_exit)


def answer_steps(*, document: Document, question_key: str, answer: Any, first: bool) -> list[str]:
    """The funnel steps one accepted answer counts: "started" for the run's first answer,
    "answered:<key>" (also for an optional question left blank: the person moved past it), and
    "opted_in:<purpose>" for a consent question answered yes."""
    steps = ["started"] if first else []
    steps.append(f"answered:{question_key}")
    question = document.question(question_key)
    if question is not None and question.kind == "consent" and answer is True:
        steps.append(f"opted_in:{question.purpose}")
    return steps


@dataclass(frozen=True)
class Identity:
    external_id: str | None  # None: anonymous
    contact_fields: dict[str, Any]  # for a contact created from an entered email
    suppressed: bool  # the address was erased earlier: no marketing grant without double opt-in


_ANONYMOUS = Identity(external_id=None, contact_fields={}, suppressed=False)


def _identity(*, brand: Brand, token_contact_id: int | None, email: str | None) -> Identity:
    """Who the response belongs to: the quiz token's contact, else the contact with the entered
    address (found, or created with it), else nobody."""
    if token_contact_id is not None:
        row = (
            Contact.objects.filter(brand=brand, pk=token_contact_id, erased_at__isnull=True)
            .values_list("external_id", "suppressed")
            .first()
        )
        if row is None:
            return _ANONYMOUS
        return Identity(external_id=row[0], contact_fields={}, suppressed=row[1])
    if not email:
        return _ANONYMOUS
    found = contact_by_email(brand=brand, email=email)
    if found is not None:
        return Identity(external_id=found.external_id, contact_fields={}, suppressed=found.suppressed)
    normalised = normalise_email(email)
    suppressed = Suppression.objects.filter(brand=brand, email_hmac=email_hmac(normalised)).exists()
    return Identity(
        external_id=f"{NEW_CONTACT_PREFIX}{secrets.token_hex(8)}",
        contact_fields={"email": normalised},
        suppressed=suppressed,
    )


def _entered_email(document: Document, answers: Mapping[str, Any]) -> str | None:
    for question in document.questions:
        if question.kind == "email" and answers.get(question.id):
            return str(answers[question.id])
    return None


def _version_questions(version: QuizVersion) -> dict[str, Question]:
    return {q.key: q for q in Question.objects.filter(version=version).select_related("purpose")}


class RunCompleted(NotFound):
    """The run's Response is completed already: nothing more is stored for it."""


def _response_for(
    *, brand: Brand, version: QuizVersion, response_public_id: str | None, started_at: datetime
) -> tuple[Response, set[str]]:
    """The run's Response and the question keys it has answers for: the one "save my progress"
    stored earlier in this run (locked), else a new one (unsaved) under the run's id, chosen when
    the run began (none for a run begun before runs had one). A completed one is not the run's
    to change any more."""
    if response_public_id is None:
        return Response(brand=brand, version=version, started_at=started_at), set()
    response = (
        Response.objects.select_for_update()
        .filter(brand=brand, version=version, public_id=response_public_id)
        .first()
    )
    if response is None:
        return Response(
            brand=brand, version=version, started_at=started_at, public_id=response_public_id
        ), set()
    if response.completed_at is not None:
        raise RunCompleted("This quiz response was completed or is gone.")
    stored = set(Answer.objects.filter(response=response).values_list("question__key", flat=True))
    return response, stored


def _answers_build(
    *,
    brand: Brand,
    response: Response,
    questions: Mapping[str, Question],
    answers: Mapping[str, Any],
    skip: Collection[str],
    contact_id: int | None,
    now: datetime,
) -> list[Answer]:
    return [
        Answer(
            brand=brand,
            response=response,
            question=questions[key],
            contact_id=contact_id,
            value=value,
            recorded_at=now,
        )
        for key, value in answers.items()
        if value is not None and key not in skip and key in questions
    ]


@transaction.atomic
def response_save(
    *,
    brand: Brand,
    version: QuizVersion,
    answers: Mapping[str, Any],
    started_at: datetime,
    token_contact_id: int | None,
    utm: Mapping[str, str],
    response_public_id: str | None = None,
) -> Response:
    """ "Save my progress": store the answers given so far as a Response that is not completed
    (answers already stored for it are not stored twice, also where the same save is sent
    again). Linked to the quiz token's contact if there is one; an entered email links only on
    completion, where double opt-in applies."""
    now = timezone.now()
    questions = _version_questions(version)
    identity = _identity(brand=brand, token_contact_id=token_contact_id, email=None)
    contact_id = token_contact_id if identity.external_id is not None else None
    response, stored = _response_for(
        brand=brand, version=version, response_public_id=response_public_id, started_at=started_at
    )
    if response.pk is None:
        response.contact_id, response.utm = contact_id, dict(utm)
        response.save()
    Answer.objects.bulk_create(
        _answers_build(
            brand=brand,
            response=response,
            questions=questions,
            answers=answers,
            skip=stored,
            contact_id=response.contact_id,
            now=now,
        )
    )
    return response


@dataclass(frozen=True)
class Completion:
    response: Response
    contact: Contact | None
    # quiz.completed: the contact's, or the brand stream's for an anonymous run; None where the
    # run was completed before (`replayed`: nothing written now).
    event: Event | None
    replayed: bool = False


def _grants_and_subscriptions(
    *,
    brand: Brand,
    document: Document,
    questions: Mapping[str, Question],
    answers: Mapping[str, Any],
    identity: Identity,
) -> tuple[list[ConsentDecision], list[SubscriptionChange]]:
    """Consent grants for consent questions answered yes, and the chosen options' subscriptions
    whose topic needs no consent or one the contact has (or gives in this quiz). A subscription
    whose purpose has no consent is left out: the quiz showed no notice for it to stand on.

    A yes to a purpose that a chosen topic with double opt-in serves is not granted here: the
    subscription carries the notice shown and stays pending, and the grant is recorded when the
    person confirms by the emailed link (preferences.services), as on the preference centre."""
    yes = {
        question.purpose: question.notice_version
        for question in document.questions
        if question.kind == "consent"
        and answers.get(question.id) is True
        and not (identity.suppressed and questions[question.id].purpose.is_marketing)
    }  # a suppressed address: only a confirmed double opt-in may grant marketing again
    wanted: dict[tuple[str, str], str | None] = {}
    for option in chosen_options(document, answers):
        for subscribe in option.effects.subscribe:
            wanted.setdefault((subscribe.topic, subscribe.channel), subscribe.cadence)
    topics = (
        {t.slug: t for t in Topic.objects.filter(brand=brand, slug__in={slug for slug, _ in wanted})}
        if wanted
        else {}
    )
    slugs_by_id = {q.purpose_id: q.purpose.slug for q in questions.values()}
    double_opt_in = {
        slugs_by_id.get(topic.purpose_id_for(channel) or 0)
        for (slug, channel) in wanted
        if (topic := topics.get(slug)) is not None and topic.double_opt_in and channel in topic.channels
    }
    grants = [
        ConsentDecision(purpose=slug, decision=Decision.GRANTED, notice_version=notice)
        for slug, notice in yes.items()
        if slug not in double_opt_in
    ]
    if not wanted:
        return grants, []
    granted = set(
        ConsentState.objects.filter(
            brand=brand, contact__external_id=identity.external_id, decision=Decision.GRANTED
        ).values_list("purpose_id", flat=True)
    )
    changes = []
    for (slug, channel), cadence in wanted.items():
        topic = topics.get(slug)
        if topic is None or channel not in topic.channels:
            continue  # checked on publish; the brand changed its topics since
        purpose_id = topic.purpose_id_for(channel)
        notice = yes.get(slugs_by_id.get(purpose_id or 0, ""))
        if not topic.transactional and purpose_id not in granted and notice is None:
            continue
        changes.append(
            SubscriptionChange(
                topic=slug,
                channel=channel,
                status="subscribed",
                cadence=cadence if cadence in topic.cadence_options else None,
                notice_version=notice if purpose_id not in granted and not topic.transactional else None,
            )
        )
    return grants, changes


def _traits_build(
    *,
    brand: Brand,
    document: Document,
    questions: Mapping[str, Question],
    answers: Mapping[str, Any],
    by_key: Mapping[str, Answer],
    contact: Contact,
    now: datetime,
) -> list[Trait]:
    traits = []
    for question in document.questions:
        value = answers.get(question.id)
        if value is None or question.id not in by_key:
            continue
        row = questions[question.id]
        set_here = traits_of(question, value)
        traits += [
            Trait(
                brand=brand,
                contact=contact,
                key=key,
                value=trait_value,
                purpose_id=row.purpose_id,
                answer=by_key[question.id],
                recorded_at=now,
            )
            for key, trait_value in set_here.items()
        ]
    return traits


def response_complete(
    *,
    brand: Brand,
    version: QuizVersion,
    answers: Mapping[str, Any],
    outcome: str | None,
    started_at: datetime,
    token_contact_id: int | None,
    utm: Mapping[str, str],
    evidence: EvidenceInput,
    response_public_id: str | None = None,
) -> Completion:
    """Finish a run: everything the module docstring lists, in one transaction. `answers` maps
    question keys to answers as `quizzes.document.answer_problem` returned them (None: left
    blank); `outcome` is the outcome's id (quizzes.document.outcome_for) or None;
    `response_public_id` is the run's Response id.

    A run finishes once. Where its Response is completed already (the last answer sent again: a
    reply lost, a double click), nothing is written and that completion is answered
    (`replayed`); two sent at the same moment meet at the Response (its lock, or its unique
    public id), and the second one's transaction is undone whole."""
    if response_public_id is not None:
        done = _completed(brand=brand, version=version, response_public_id=response_public_id)
        if done is not None:
            return done
    try:
        return _complete(
            brand=brand,
            version=version,
            answers=answers,
            outcome=outcome,
            started_at=started_at,
            token_contact_id=token_contact_id,
            utm=utm,
            evidence=evidence,
            response_public_id=response_public_id,
        )
    except (IntegrityError, RunCompleted):
        done = (
            _completed(brand=brand, version=version, response_public_id=response_public_id)
            if response_public_id is not None
            else None
        )
        if done is None:
            raise
        return done


def _completed(*, brand: Brand, version: QuizVersion, response_public_id: str) -> Completion | None:
    """The run's completion made before, if it was."""
    response = (
        Response.objects.filter(
            brand=brand, version=version, public_id=response_public_id, completed_at__isnull=False
        )
        .select_related("contact")
        .first()
    )
    if response is None:
        return None
    return Completion(response=response, contact=response.contact, event=None, replayed=True)


@transaction.atomic
def _complete(
    *,
    brand: Brand,
    version: QuizVersion,
    answers: Mapping[str, Any],
    outcome: str | None,
    started_at: datetime,
    token_contact_id: int | None,
    utm: Mapping[str, str],
    evidence: EvidenceInput,
    response_public_id: str | None,
) -> Completion:
    now = timezone.now()
    document = parse(version.document)
    questions = _version_questions(version)
    identity = _identity(
        brand=brand, token_contact_id=token_contact_id, email=_entered_email(document, answers)
    )
    contact: Contact | None = None
    if identity.external_id is not None:
        grants, subscriptions = _grants_and_subscriptions(
            brand=brand, document=document, questions=questions, answers=answers, identity=identity
        )
        signup = contact_signup(
            brand=brand,
            external_id=identity.external_id,
            method=Method.QUIZ,
            recorded_by=RECORDED_BY,
            confirm_url_builder=confirm_url,
            contact_fields=identity.contact_fields,
            consents=grants,
            subscriptions=subscriptions,
            occurred_at=now,
            evidence=evidence,
        )
        # The contact as the last service left it: locked, its outbox sequence current.
        contact = signup.preferences.contact if signup.preferences is not None else signup.contact
    response, saved_keys = _response_for(
        brand=brand, version=version, response_public_id=response_public_id, started_at=started_at
    )
    response.completed_at, response.outcome = now, outcome or ""
    if contact is not None:
        response.contact = contact
    if response.pk is None:
        response.utm = dict(utm)
        response.save()
    else:
        response.save(update_fields=["completed_at", "outcome", "contact"])
    if contact is not None and saved_keys:  # answers saved anonymously earlier now have an owner
        Answer.objects.filter(response=response, contact__isnull=True).update(contact=contact)
    new_answers = Answer.objects.bulk_create(
        _answers_build(
            brand=brand,
            response=response,
            questions=questions,
            answers=answers,
            skip=saved_keys,
            contact_id=contact.pk if contact is not None else None,
            now=now,
        )
    )
    event: Event
    if contact is not None:
        keys = {q.pk: key for key, q in questions.items()}
        stored = (
            list(Answer.objects.filter(response=response, contact=contact)) if saved_keys else new_answers
        )
        by_key = {keys[a.question_id]: a for a in stored}
        traits = Trait.objects.bulk_create(
            _traits_build(
                brand=brand,
                document=document,
                questions=questions,
                answers=answers,
                by_key=by_key,
                contact=contact,
                now=now,
            )
        )
        # Read after contact_signup: a consent given in this quiz covers its traits already.
        valid = purposes_valid(
            brand=brand, contact_id=contact.pk, purpose_ids={t.purpose_id for t in traits}, now=now
        )
        event = _completed_event(
            brand=brand,
            version=version,
            response=response,
            contact=contact,
            answers=answers,
            traits=traits_gated(traits, valid),
            now=now,
        )
    else:
        event = _anonymous_completed_event(
            brand=brand, version=version, response=response, answers=answers, now=now
        )
    return Completion(response=response, contact=contact, event=event)


def _completed_data(
    *, version: QuizVersion, response: Response, answers: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "quiz": version.quiz.public_id,
        "version": version.number,
        "response": response.public_id,
        "outcome": response.outcome or None,
        "answered": [key for key, value in answers.items() if value is not None],
        "occurred_at": iso_utc(now),
    }


def _completed_event(
    *,
    brand: Brand,
    version: QuizVersion,
    response: Response,
    contact: Contact,
    answers: Mapping[str, Any],
    traits: Mapping[str, Any],
    now: datetime,
) -> Event:
    """`quiz.completed`: which questions were answered, never what was answered (a value may
    serve a purpose the contact has not consented to; the API shows values where it may), and
    the traits set whose purpose the contact's consent covers (quizzes.traits)."""
    event = event_build(
        brand=brand,
        type=EventType.QUIZ_COMPLETED,
        contact_ref=contact.pk,
        subject=contact.external_id,
        sequence=contact.event_sequence + 1,
        data={
            **_completed_data(version=version, response=response, answers=answers, now=now),
            "traits": traits,
        },
        occurred_at=now,
    )
    outbox_append(contact=contact, events=[event])
    contact.event_sequence = event.sequence
    return event


def _anonymous_completed_event(
    *, brand: Brand, version: QuizVersion, response: Response, answers: Mapping[str, Any], now: datetime
) -> Event:
    """`quiz.completed` of a response linked to no one (`contact: null`, no traits), so funnel
    consumers see every completion. It goes on the brand's own stream (Event.brand_ref): no
    contact's sequence is touched, and the brand stream keeps its own increasing order."""
    data = _completed_data(version=version, response=response, answers=answers, now=now)
    return brand_event_record(
        brand=brand, type=EventType.QUIZ_COMPLETED, data={"contact": None, **data}, now=now
    )
