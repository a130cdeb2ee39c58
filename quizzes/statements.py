"""What a person changes about their quiz answers on the preference centre, and what downstream
systems are told about traits.

- A correction is a new dated statement (kind `corrected`, source `preference_centre`) on the
  answer's question; the earlier statements stay as its history. The traits it sets are new
  statements too, and a trait the old answer set and the new one does not gets a statement
  without a value. If that changes a trait and the contact's consent covers the question's
  purpose, `traits.updated` goes out.
- A deletion deletes every statement of that answer and the traits derived from them, and keeps
  one statement of kind `deleted` with no value (what was asked, and when it was deleted: no
  more). `traits.forgotten` (reason `deleted`) tells downstream systems to drop the traits.
- When the contact's consent for a purpose stops (withdrawn, or expired), the ledger's write path
  calls `traits_forget_on_consent_stopped` (registered in quizzes.apps through consent.hooks):
  the traits that stand under that purpose go out in `traits.forgotten` (reason `withdrawn` or
  `expired`), in the same transaction.

Each runs under the contact's row lock, in one transaction, in a constant number of queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from brands.models import Brand
from config.errors import NotFound, Unprocessable
from consent.ledger import iso_utc
from consent.models import Contact, Decision, Purpose
from preferences.statements import outbox_append
from quizzes.document import Question as DocumentQuestion
from quizzes.document import answer_problem, parse
from quizzes.models import Answer, StatementKind, StatementSource, Trait
from quizzes.traits import purposes_valid, traits_current, traits_of
from sync.models import Event, EventType
from sync.outbox.events import event_build

# Question kinds a person can correct or delete on the centre. A consent question's answer is a
# ledger decision (changed with the purpose's own control), not a statement to correct here.
CORRECTABLE = ("single", "multiple", "scale", "text", "email")

FORGOTTEN_WITHDRAWN = "withdrawn"
FORGOTTEN_EXPIRED = "expired"
FORGOTTEN_DELETED = "deleted"


def _contact_locked(*, brand: Brand, contact: Contact) -> Contact:
    locked = (
        Contact.objects.select_for_update()
        .filter(pk=contact.pk, brand=brand, erased_at__isnull=True)
        .only("id", "brand_id", "external_id", "event_sequence")
        .first()
    )
    if locked is None:
        raise NotFound("No such contact.")
    return locked


def _statements(*, brand: Brand, contact: Contact, quiz_public_id: str, question_key: str) -> list[Answer]:
    """Every statement of the contact on that quiz's question (in any version), newest first,
    with the question, its purpose, version and quiz."""
    return list(
        Answer.objects.filter(
            brand=brand,
            contact=contact,
            question__key=question_key,
            question__version__quiz__public_id=quiz_public_id,
            question__version__quiz__brand=brand,
        )
        .select_related("question__purpose", "question__version__quiz")
        .order_by("-recorded_at", "-id")
    )


def _standing(statements: list[Answer], question_key: str) -> tuple[Answer, DocumentQuestion]:
    """The latest statement and its question as the person saw it; NotFound if there is none,
    it was deleted, or its question cannot be corrected here."""
    if not statements or statements[0].kind == StatementKind.DELETED:
        raise NotFound(f"No answer to '{question_key}'.")
    latest = statements[0]
    question = parse(latest.question.version.document).question(question_key)
    if question is None or question.kind not in CORRECTABLE:
        raise NotFound(f"No answer to '{question_key}' that can be changed here.")
    return latest, question


def _traits_event(
    *, brand: Brand, contact: Contact, type: EventType, data: dict[str, Any], now: datetime
) -> Event:
    event = event_build(
        brand=brand,
        type=type,
        contact_ref=contact.pk,
        subject=contact.external_id,
        sequence=contact.event_sequence + 1,
        data={**data, "occurred_at": iso_utc(now)},
        occurred_at=now,
    )
    outbox_append(contact=contact, events=[event])
    contact.event_sequence = event.sequence
    return event


@dataclass(frozen=True)
class Correction:
    answer: Answer | None  # None: the value was the one that stands, so nothing was written
    event: Event | None  # traits.updated, if a trait changed and consent covers its purpose


@transaction.atomic
def answer_correct(
    *, brand: Brand, contact: Contact, quiz_public_id: str, question_key: str, value: Any
) -> Correction:
    """Record the person's correction of an answer (see the module docstring). `value` is
    checked as the quiz checks an answer; a blank or invalid one is Unprocessable (`value`)."""
    locked = _contact_locked(brand=brand, contact=contact)
    statements = _statements(
        brand=brand, contact=locked, quiz_public_id=quiz_public_id, question_key=question_key
    )
    latest, question = _standing(statements, question_key)
    checked, problem = answer_problem(question, value)
    if problem is not None or checked is None:
        raise Unprocessable.for_field("value", problem or "Give an answer, or delete it instead.")
    if checked == latest.value:
        return Correction(answer=None, event=None)
    now = timezone.now()
    row = latest.question
    answer = Answer.objects.create(
        brand=brand,
        response_id=latest.response_id,
        question=row,
        contact=locked,
        kind=StatementKind.CORRECTED,
        source=StatementSource.PREFERENCE_CENTRE,
        value=checked,
        recorded_at=now,
    )
    before = dict(
        Trait.objects.filter(answer=latest, value__isnull=False)
        .exclude(kind=StatementKind.DELETED)
        .values_list("key", "value")
    )
    after = traits_of(question, checked)
    statement = {"brand": brand, "contact": locked, "purpose_id": row.purpose_id, "answer": answer}
    Trait.objects.bulk_create(
        [
            *(
                Trait(
                    **statement,
                    key=key,
                    value=trait_value,
                    kind=StatementKind.CORRECTED,
                    source=StatementSource.PREFERENCE_CENTRE,
                    recorded_at=now,
                )
                for key, trait_value in after.items()
            ),
            *(
                Trait(
                    **statement,
                    key=key,
                    value=None,
                    kind=StatementKind.DELETED,
                    source=StatementSource.PREFERENCE_CENTRE,
                    recorded_at=now,
                )
                for key in sorted(before.keys() - after.keys())
            ),
        ]
    )
    changed = {key: trait_value for key, trait_value in after.items() if before.get(key) != trait_value}
    removed = sorted(before.keys() - after.keys())
    event = None
    if (changed or removed) and purposes_valid(
        brand=brand, contact_id=locked.pk, purpose_ids={row.purpose_id}, now=now
    ):
        event = _traits_event(
            brand=brand,
            contact=locked,
            type=EventType.TRAITS_UPDATED,
            data={
                "purpose": row.purpose.slug,
                "traits": changed,
                "removed": removed,
                "source": StatementSource.PREFERENCE_CENTRE.value,
                "quiz": quiz_public_id,
                "question": question_key,
            },
            now=now,
        )
    return Correction(answer=answer, event=event)


@dataclass(frozen=True)
class Deletion:
    record: Answer  # the statement that says it was deleted (no value)
    deleted: int  # statements deleted (the history included)
    traits: list[str]  # the names of the traits that went with them
    event: Event  # traits.forgotten


@transaction.atomic
def answer_delete(*, brand: Brand, contact: Contact, quiz_public_id: str, question_key: str) -> Deletion:
    """Delete the person's answer (see the module docstring)."""
    locked = _contact_locked(brand=brand, contact=contact)
    statements = _statements(
        brand=brand, contact=locked, quiz_public_id=quiz_public_id, question_key=question_key
    )
    latest, _question = _standing(statements, question_key)
    now = timezone.now()
    ids = [statement.pk for statement in statements]
    names = sorted(
        set(
            Trait.objects.filter(answer=latest, value__isnull=False)
            .exclude(kind=StatementKind.DELETED)
            .values_list("key", flat=True)
        )
    )
    Trait.objects.filter(answer_id__in=ids).delete()
    deleted, _ = Answer.objects.filter(pk__in=ids).delete()
    row = latest.question
    record = Answer.objects.create(
        brand=brand,
        response_id=latest.response_id,
        question=row,
        contact=locked,
        kind=StatementKind.DELETED,
        source=StatementSource.PREFERENCE_CENTRE,
        value=None,
        recorded_at=now,
    )
    event = _traits_event(
        brand=brand,
        contact=locked,
        type=EventType.TRAITS_FORGOTTEN,
        data={
            "purpose": row.purpose.slug,
            "traits": names,
            "reason": FORGOTTEN_DELETED,
            "quiz": quiz_public_id,
            "question": question_key,
        },
        now=now,
    )
    return Deletion(record=record, deleted=deleted, traits=names, event=event)


def traits_forget_on_consent_stopped(
    *, brand: Brand, contact: Contact, purpose: Purpose, decision: str, occurred_at: datetime
) -> None:
    """consent.hooks: the contact's consent for `purpose` stopped. If traits stand under it,
    `traits.forgotten` names them (one query without traits, two with). The caller holds the
    contact's lock inside the ledger's transaction."""
    now = timezone.now()
    names = sorted(
        trait.key
        for trait in traits_current(brand=brand, contact_id=contact.pk, now=now)
        if trait.purpose_id == purpose.pk
    )
    if not names:
        return
    reason = FORGOTTEN_EXPIRED if decision == Decision.EXPIRED else FORGOTTEN_WITHDRAWN
    event = event_build(
        brand=brand,
        type=EventType.TRAITS_FORGOTTEN,
        contact_ref=contact.pk,
        subject=contact.external_id,
        sequence=contact.event_sequence + 1,
        data={
            "purpose": purpose.slug,
            "traits": names,
            "reason": reason,
            "quiz": None,
            "question": None,
            "occurred_at": iso_utc(occurred_at),
        },
        occurred_at=occurred_at,
    )
    outbox_append(contact=contact, events=[event])
    contact.event_sequence = event.sequence
