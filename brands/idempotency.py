"""`Idempotency-Key` for API writes: the same key and body replays the first response;
the same key with another body is 422. The record is written in the same transaction
as the change, so a replay can never point at a write that rolled back."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response

from brands.models import Brand, IdempotencyRecord
from config.errors import Unprocessable

HEADER = "Idempotency-Key"


def _fingerprint(request: Request) -> str:
    import json

    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        raise Unprocessable(
            f"This {HEADER} was already used with a different request; use a new key.",
            errors={HEADER: ["already used with a different request"]},
        )
    return Response(record.response_body, status=record.status_code, headers={"Idempotent-Replayed": "true"})


def idempotent(request: Request, brand: Brand, handler: Callable[[], Response]) -> Response:
    key = request.headers.get(HEADER)
    if key is None:
        return handler()
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise ParseError(f"{HEADER} must be 1–255 printable characters.")
    fingerprint = _fingerprint(request)
    fresh_after = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    with transaction.atomic():
        existing = IdempotencyRecord.objects.filter(brand=brand, key=key).first()
        if existing is not None and existing.created_at >= fresh_after:
            return _replay(existing, fingerprint)
        if existing is not None:
            existing.delete()  # expired: the key may be used afresh
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(brand=brand, key=key, fingerprint=fingerprint)
        except IntegrityError:
            # A concurrent request with this key committed first: answer as it did.
            return _replay(IdempotencyRecord.objects.get(brand=brand, key=key), fingerprint)
        response = handler()
        if 200 <= response.status_code < 300:
            record.status_code = response.status_code
            record.response_body = response.data
            record.save(update_fields=["status_code", "response_body"])
        else:
            record.delete()
        return response
