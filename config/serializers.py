"""Serializer building blocks shared by every app's API."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any, TypeVar

from rest_framework import serializers

S = TypeVar("S", bound=serializers.BaseSerializer)

# One instance of a serializer per thread, reused by the API's busiest requests: building one
# deep-copies its declared fields, nested serializers included, which cost a sign-up about as
# much as validating its body. Validating and representing keep no state on the instance (our
# serializers read no `context`, `instance` or `initial_data` there), and a thread serves one
# request at a time.
_built = threading.local()


def reused(serializer_class: type[S]) -> S:
    """This thread's instance of `serializer_class`, for `run_validation` or `to_representation`."""
    built: dict[type[Any], Any] = _built.__dict__.setdefault("serializers", {})
    serializer = built.get(serializer_class)
    if serializer is None:
        serializer = built[serializer_class] = serializer_class()
    return serializer


def represented(serializer_class: type[serializers.Serializer], instance: Any) -> dict[str, Any]:
    """`serializer_class(instance).data`, by this thread's reused instance."""
    return dict(reused(serializer_class).to_representation(instance))


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a typo ('notice_verison') is an error, not a no-op."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time that must say its offset; answered back in UTC with a Z."""

    def to_internal_value(self, value: Any) -> datetime:
        if not isinstance(value, str) or not value.strip():
            self.fail("invalid", format="YYYY-MM-DDThh:mm[:ss[.uuuuuu]]Z")
        try:
            # Parse it ourselves: "2024-01-01-10:00" must not pass as a naive time with a separator.
            parsed = datetime.fromisoformat(value[:-1] + "Z" if value.endswith("z") else value)
        except ValueError:
            self.fail("invalid", format="YYYY-MM-DDThh:mm[:ss[.uuuuuu]]Z")
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise serializers.ValidationError("Give the time with an offset or Z, e.g. 2026-11-22T10:00:00Z.")
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            self.fail("invalid", format="YYYY-MM-DDThh:mm[:ss[.uuuuuu]]Z")
