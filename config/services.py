"""What every app's services share: partial updates validated by the model before they are saved."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import models

from config.errors import Unprocessable

UNSET: Any = object()  # "leave this field as it is"

M = TypeVar("M", bound=models.Model)


def model_clean(instance: models.Model, *, invalid: str) -> None:
    """The model's own validation, as a 422 naming each bad field (`invalid` is its detail)."""
    try:
        instance.full_clean()
    except ValidationError as exc:
        raise Unprocessable.from_validation_error(exc, invalid) from None


def fields_update(instance: M, given: Mapping[str, Any], *, invalid: str) -> M:
    """Set the fields of `given` that are not UNSET and differ, validate the result, and save
    only those fields (nothing when none changed). `instance` is the caller's locked row."""
    changes = {
        name: value
        for name, value in given.items()
        if value is not UNSET and getattr(instance, name) != value
    }
    for name, value in changes.items():
        setattr(instance, name, value)
    model_clean(instance, invalid=invalid)
    if changes:
        instance.save(update_fields=list(changes))
    return instance
