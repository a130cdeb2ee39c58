"""Quiz tokens: short-lived, signed, purpose-bound (`quiz`) proof that the brand's own site knows
who is taking a quiz. The brand mints one through the API (POST /api/v1/contacts/{external_id}/
quiz-tokens) and hands it to the embed; the quiz page calls `quiz_token_read` to link the
response to that contact. A client-supplied id alone never does.

Built as the preference links are (preferences.tokens): Django's signing with a salt of its own,
so a manage or unsubscribe token never verifies as a quiz token, nor the other way round, and
SECRET_KEY_FALLBACKS keep tokens working across a key rotation::

    <base64 JSON [brand, contact, quiz?]>.<issued, base 62>.<HMAC-SHA256>

Ids are internal ids (pseudonymous). Tokens live QUIZ_TOKEN_SECONDS (30 minutes by default) from
`issued`. A signed JSON list is what config.logfilters redacts, so a token that reaches a log
line by accident becomes a fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.utils import timezone

from brands.models import Brand
from consent.models import Contact
from quizzes.models import Quiz

SALT = "candor.quiz"
SEPARATOR = "."
MAX_TOKEN_LENGTH = 200


@dataclass(frozen=True)
class QuizToken:
    token: str
    expires_at: datetime


class _QuizSigner(signing.TimestampSigner):
    """TimestampSigner under the `quiz` salt, dated `issued` (Unix seconds) when given, so the
    expiry the API reports is exactly the one the reader applies."""

    def __init__(self, issued: int | None = None) -> None:
        super().__init__(salt=SALT, sep=SEPARATOR)
        self.issued = issued

    def timestamp(self) -> str:
        return signing.b62_encode(self.issued) if self.issued is not None else super().timestamp()


def _lifetime() -> timedelta:
    return timedelta(seconds=settings.QUIZ_TOKEN_SECONDS)


def quiz_token_issue(
    *, brand: Brand, contact: Contact, quiz: Quiz | None = None, now: datetime | None = None
) -> QuizToken:
    """A token naming the brand and the contact, and `quiz` when given (then it works for that
    quiz alone)."""
    if contact.brand_id != brand.pk or (quiz is not None and quiz.brand_id != brand.pk):
        raise ValueError("The contact and the quiz must belong to the brand.")
    payload = [brand.pk, contact.pk] + ([quiz.pk] if quiz is not None else [])
    issued = int((now or timezone.now()).timestamp())
    token = _QuizSigner(issued).sign_object(payload)
    return QuizToken(token=token, expires_at=datetime.fromtimestamp(issued, tz=UTC) + _lifetime())


def quiz_token_read(
    token: str, brand: Brand, *, quiz: Quiz | None = None, now: datetime | None = None
) -> Contact | None:
    """The contact a token names, if it is an authentic, unexpired quiz token of `brand` for a
    contact that still exists and is not erased. A token minted for one quiz is accepted only
    when `quiz` is that quiz. None for everything else (expired, another brand, another kind
    of token, tampered, malformed): the quiz then simply stays anonymous."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return None
    try:
        payload = _QuizSigner().unsign_object(token)
        issued = datetime.fromtimestamp(signing.b62_decode(token.rsplit(SEPARATOR, 2)[1]), tz=UTC)
    except (signing.BadSignature, ValueError, OverflowError, OSError):
        return None
    if not isinstance(payload, list) or len(payload) not in (2, 3):
        return None
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in payload):
        return None
    now = now or timezone.now()
    if now > issued + _lifetime() or issued > now + timedelta(minutes=5):
        return None
    brand_id, contact_id, *quiz_ids = payload
    if brand_id != brand.pk:
        return None
    if quiz_ids and (quiz is None or quiz.pk != quiz_ids[0]):
        return None
    return Contact.objects.filter(brand=brand, pk=contact_id, erased_at__isnull=True).first()
