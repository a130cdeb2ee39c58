"""Quizzes: a brand's questions, published as immutable versions, and what people answered.

A quiz is edited as one JSON document (quizzes/document.py describes it; the JSON Schema is
quizzes/schema/quiz-1.schema.json). Publishing freezes the draft into a `QuizVersion`; its
questions become rows so that answers, traits and funnel counts point at the exact question a
person saw, and so that a purpose cannot be deleted while a published question serves it.
Branching rules and outcomes stay in the version's document: they are read together, by the
engine, never queried one by one.
"""

from __future__ import annotations

import secrets

from django.db import models

from brands.models import Brand
from consent.models import Contact, Purpose


def new_quiz_id() -> str:
    return f"qz_{secrets.token_urlsafe(9)}"


def new_response_id() -> str:
    return f"qr_{secrets.token_urlsafe(12)}"


class QuizStatus(models.TextChoices):
    DRAFT = "draft", "Draft"  # never published
    PUBLISHED = "published", "Published"  # a live version answers on /q/{public_id}/
    ARCHIVED = "archived", "Archived"  # no longer answerable; its responses stay


class Quiz(models.Model):
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="quizzes")
    public_id = models.CharField(max_length=32, unique=True, default=new_quiz_id, editable=False)
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=QuizStatus.choices, default=QuizStatus.DRAFT)
    # The document being edited. Publishing copies it into a new QuizVersion; editing a
    # published quiz changes only this draft until the next publish.
    draft = models.JSONField()
    draft_updated_at = models.DateTimeField()
    live_version = models.ForeignKey(
        "QuizVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["brand", "created_at"], name="quiz_brand_created")]

    def __str__(self) -> str:
        return f"{self.title} ({self.public_id})"


class QuizVersion(models.Model):
    """A published document. Never edited (a trigger refuses UPDATE and DELETE)."""

    quiz = models.ForeignKey(Quiz, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    document = models.JSONField()
    published_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["quiz", "number"], name="quizversion_number_unique")]

    def __str__(self) -> str:
        return f"{self.quiz.public_id} v{self.number}"


class QuestionKind(models.TextChoices):
    SINGLE = "single", "Single choice"
    MULTIPLE = "multiple", "Multiple choice"
    SCALE = "scale", "Scale"
    TEXT = "text", "Short text"
    EMAIL = "email", "Email capture"
    CONSENT = "consent", "Consent"


class Question(models.Model):
    """One question of one published version, as the document names it (`key`)."""

    version = models.ForeignKey(QuizVersion, on_delete=models.PROTECT, related_name="questions")
    key = models.CharField(max_length=50)
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=10, choices=QuestionKind.choices)
    # The purpose the answers serve: what may be done with them, and what consent a trait
    # taken from them needs before it leaves Candor.
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "key"], name="question_key_unique"),
            models.UniqueConstraint(fields=["version", "position"], name="question_position_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.version} {self.key}"


class Response(models.Model):
    """One person's run through one version. Created when they finish, or press "save my
    progress"; until then only anonymous funnel counts exist."""

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    public_id = models.CharField(max_length=32, unique=True, default=new_response_id, editable=False)
    version = models.ForeignKey(QuizVersion, on_delete=models.PROTECT, related_name="responses")
    # Set only from an email the person entered (double opt-in rules) or a signed contact
    # token minted through the API; never from an id the browser sends.
    contact = models.ForeignKey(
        Contact, on_delete=models.PROTECT, null=True, blank=True, related_name="quiz_responses"
    )
    started_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=50, blank=True)  # the document's outcome id
    utm = models.JSONField(default=dict, blank=True)  # utm_* parameters the embed passed

    class Meta:
        indexes = [models.Index(fields=["brand", "completed_at"], name="response_brand_completed")]

    def __str__(self) -> str:
        return self.public_id


class StatementKind(models.TextChoices):
    ANSWERED = "answered", "Answered"  # in a quiz
    CORRECTED = "corrected", "Corrected"  # by the person, on the preference centre
    DELETED = "deleted", "Deleted"  # by the person, or by erasure: the value is gone


class StatementSource(models.TextChoices):
    QUIZ = "quiz", "Quiz"  # the person answered in a quiz
    PREFERENCE_CENTRE = "preference_centre", "Preference centre"  # corrected or deleted there


class Answer(models.Model):
    """A dated statement: what the person said to one question, when, where. A retake or a
    correction adds a statement; the latest per (contact, question key) is what stands."""

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    # An answer lives and dies with its response (erasure deletes both: consent.erasure deletes
    # every row that points at the contact).
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="answers")
    contact = models.ForeignKey(
        Contact, on_delete=models.PROTECT, null=True, blank=True, related_name="quiz_answers"
    )
    kind = models.CharField(max_length=10, choices=StatementKind.choices, default=StatementKind.ANSWERED)
    source = models.CharField(max_length=20, choices=StatementSource.choices, default=StatementSource.QUIZ)
    value = models.JSONField(null=True)  # None once deleted
    recorded_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["contact", "recorded_at"], name="answer_contact_recorded")]

    def __str__(self) -> str:
        return f"{self.question} ({self.kind} {self.recorded_at:%Y-%m-%d})"


class Trait(models.Model):
    """A dated statement about the contact derived from an answer (`goal = "run a marathon"`).
    It reaches webhooks, the feed and connectors only while the contact's consent covers
    `purpose`. The latest per (contact, key) stands; a deletion is a statement with no value."""

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="quiz_traits")
    key = models.CharField(max_length=50)
    value = models.JSONField(null=True)  # None once deleted
    kind = models.CharField(max_length=10, choices=StatementKind.choices, default=StatementKind.ANSWERED)
    source = models.CharField(max_length=20, choices=StatementSource.choices, default=StatementSource.QUIZ)
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="+")
    # A trait taken from an answer goes when the answer goes (erasure).
    answer = models.ForeignKey(Answer, on_delete=models.CASCADE, null=True, blank=True, related_name="traits")
    recorded_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["contact", "key", "recorded_at"], name="trait_contact_key_recorded")]

    def __str__(self) -> str:
        return f"{self.key} ({self.kind} {self.recorded_at:%Y-%m-%d})"


class FunnelCount(models.Model):
    """Anonymous counts per version, day and step ("viewed", "started", "answered:<question>",
    "completed", "outcome:<outcome>", "opted_in:<purpose>"), incremented by upsert, so the
    funnel reads a few rows whatever the number of responses."""

    version = models.ForeignKey(QuizVersion, on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    step = models.CharField(max_length=120)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "day", "step"], name="funnel_step_unique")]

    def __str__(self) -> str:
        return f"{self.version} {self.day} {self.step}: {self.count}"


class FunnelStepCounted(models.Model):
    """A step of one run already counted (quizzes.responses.funnel_count), so the same step sent
    again (a reply lost and the form sent again, a double click, the browser's back button)
    counts once. The digest is of the run's random id and the step: nothing about the person.
    Kept while the run's state token is valid (a day), then forgotten."""

    digest = models.UUIDField(primary_key=True)
    day = models.DateField(db_index=True)  # UTC: forgotten by quizzes.tasks.funnel_steps_forget

    def __str__(self) -> str:
        return f"{self.digest} {self.day}"
