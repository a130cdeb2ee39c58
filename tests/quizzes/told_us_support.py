"""Shared by the "What you've told us" tests: completing the running quiz for a contact, and
granting or withdrawing the personalisation purpose its traits serve."""

from __future__ import annotations

import datetime as dt
from typing import Any

from consent.models import Contact, NoticeVersion, Purpose
from consent.services import EvidenceInput, consent_record
from quizzes.models import QuizVersion
from quizzes.responses import Completion, response_complete

T0 = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
T1 = dt.datetime(2026, 12, 3, 14, 0, tzinfo=dt.UTC)
ALL_YES = {"goal": "marathon", "level": 4, "kit": ["shoes"], "news": True}
EVIDENCE = EvidenceInput(ip="203.0.113.0", user_agent="Firefox/140", page_url="http://testserver/q/x/")


def complete(
    version: QuizVersion, contact: Contact | None, answers: dict[str, Any] | None = None
) -> Completion:
    return response_complete(
        brand=version.quiz.brand,
        version=version,
        answers=answers if answers is not None else ALL_YES,
        outcome="racer",
        started_at=T0,
        token_contact_id=contact.pk if contact is not None else None,
        utm={},
        evidence=EVIDENCE,
    )


def decide(contact: Contact, purpose: Purpose, decision: str) -> None:
    notice = None
    if decision == "granted":
        version = NoticeVersion.objects.filter(notice__purpose=purpose).order_by("-version").first()
        assert version is not None
        notice = version.public_id
    consent_record(
        brand=contact.brand,
        external_id=contact.external_id,
        purpose_slug=purpose.slug,
        decision=decision,
        notice_version_id=notice,
        method="api",
        recorded_by="test",
    )
