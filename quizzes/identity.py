"""Reading the short-lived contact token a brand mints through the API to link a quiz response
to one of its contacts (`POST /api/v1/contacts/{external_id}/quiz-tokens`).

The token is a django.core.signing value, salt "candor.quiz-token", payload
{"b": brand id, "c": contact id, "q": the quiz's public id or null (any of the brand's
quizzes)}, valid for settings.QUIZ_TOKEN_SECONDS. This module only reads it: the quiz-api
work mints it (quizzes/tokens.py) and the two are to be reconciled into one.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing

from brands.models import Brand

QUIZ_TOKEN_SALT = "candor.quiz-token"  # noqa: S105 - a signing salt, not a secret
QUIZ_TOKEN_MAX_LENGTH = 512  # longer values are not tokens we mint; refused before unsigning


@dataclass(frozen=True)
class QuizTokenClaims:
    contact_id: int
    quiz_public_id: str | None  # None: valid for any of the brand's quizzes


def quiz_token_seconds() -> int:
    return int(getattr(settings, "QUIZ_TOKEN_SECONDS", 1800))


def quiz_token_read(token: str, brand: Brand) -> QuizTokenClaims | None:
    """The claims of a valid, unexpired token minted for `brand`; None for anything else (a
    forged, expired, truncated or other brand's token all read alike)."""
    if not token or len(token) > QUIZ_TOKEN_MAX_LENGTH:
        return None
    try:
        payload = signing.loads(token, salt=QUIZ_TOKEN_SALT, max_age=quiz_token_seconds())
    except signing.BadSignature:  # SignatureExpired is one too
        return None
    if not isinstance(payload, dict) or payload.get("b") != brand.pk:
        return None
    contact_id, quiz_id = payload.get("c"), payload.get("q")
    if not isinstance(contact_id, int) or not (quiz_id is None or isinstance(quiz_id, str)):
        return None
    return QuizTokenClaims(contact_id=contact_id, quiz_public_id=quiz_id)
