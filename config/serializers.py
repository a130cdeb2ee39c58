"""Serializer building blocks shared by every app's API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rest_framework import serializers


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
        if isinstance(value, str) and value and not _has_offset(value):
            raise serializers.ValidationError("Give the time with an offset or Z, e.g. 2026-11-22T10:00:00Z.")
        result = super().to_internal_value(value)
        return result.astimezone(UTC)


def _has_offset(value: str) -> bool:
    tail = value[10:]
    return tail.endswith(("Z", "z")) or "+" in tail or "-" in tail
