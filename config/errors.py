"""The one application error type. Services raise it; interfaces turn it into a response."""

from __future__ import annotations

from django.core.exceptions import ValidationError


class ApplicationError(Exception):
    status = 400
    code = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, *, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class NotFound(ApplicationError):
    status = 404
    code = "not-found"
    title = "Not found"


class Forbidden(ApplicationError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class Conflict(ApplicationError):
    status = 409
    code = "conflict"
    title = "Conflict"


class Unprocessable(ApplicationError):
    """Well-formed but invalid: unknown purpose, unknown notice version, bad email…"""

    status = 422
    code = "validation-error"
    title = "Validation failed"

    @classmethod
    def for_field(cls, field: str, message: str) -> Unprocessable:
        return cls(message, errors={field: [message]})

    def under(self, prefix: str) -> Unprocessable:
        """The same refusal with each field named under `prefix` ("consents.1" + "purpose" →
        "consents.1.purpose"), for a part of a larger request."""
        errors = {f"{prefix}.{name}": messages for name, messages in (self.errors or {}).items()}
        return type(self)(self.detail, errors=errors or {prefix: [self.detail]})

    @classmethod
    def from_validation_error(cls, exc: ValidationError, detail: str) -> Unprocessable:
        """A model's full_clean() refusal, with its messages per field ("__all__" for the rest)."""
        errors = {name: [str(message) for message in messages] for name, messages in exc.message_dict.items()}
        return cls(detail, errors=errors)
