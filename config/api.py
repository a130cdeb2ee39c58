"""HTTP API plumbing shared by every app: problem+json errors, body limits, cursors."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Iterable, Sequence
from http import HTTPStatus
from operator import attrgetter
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response

from config.errors import ApplicationError, Unprocessable

Row = TypeVar("Row")

PROBLEM_CONTENT_TYPE = "application/problem+json"
# For the OpenAPI schema: the header every idempotent write takes (brands.idempotency).
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="1–255 printable characters, unique per intended write. Sending the same key with the "
    "same body again replays the first response (marked `Idempotent-Replayed: true`) and writes "
    "nothing; the same key with another body is 422. Keys are remembered for 24 hours "
    "(IDEMPOTENCY_TTL_HOURS).",
)
# For the OpenAPI schema: an error answer (config.schema gives each its problem+json body and a
# description; an OpenApiResponse with words of its own keeps them).
PROBLEM = OpenApiResponse(OpenApiTypes.OBJECT, description="application/problem+json (RFC 9457)")
ERRORS = {400: PROBLEM, 401: PROBLEM, 403: PROBLEM, 404: PROBLEM, 422: PROBLEM, 429: PROBLEM}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than this endpoint accepts."
    default_code = "payload-too-large"


class LimitedJSONParser(JSONParser):
    """JSON parser that stops reading past API_MAX_BODY_BYTES, even for chunked bodies."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"The request body must be at most {limit} bytes.")
        try:
            data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            raise exceptions.ParseError(f"The request body is not valid JSON: {exc}") from None
        except RecursionError:
            raise exceptions.ParseError("The request body is nested too deeply.") from None
        _check_json(data, depth=0)
        return data


MAX_JSON_DEPTH = 32


class ApiContentNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, less its cost for the request nearly every client sends: no Accept, or
    `*/*`, which DRF answers with the view's first renderer, after parsing the header and
    ranking every renderer (several per cent of a read's CPU). Anything else is negotiated in full."""

    def select_renderer(
        self, request: Any, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        override = self.settings.URL_FORMAT_OVERRIDE
        chosen_format = format_suffix or (override and request.query_params.get(override))
        if not chosen_format and request.META.get("HTTP_ACCEPT", "*/*") == "*/*":
            first = next(iter(renderers))
            return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _check_json(value: Any, depth: int) -> None:
    """Refuse what json.loads lets through but nothing downstream can store."""
    if depth > MAX_JSON_DEPTH:
        raise exceptions.ParseError(f"The request body is nested deeper than {MAX_JSON_DEPTH} levels.")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise exceptions.ParseError("The request body contains an unpaired UTF-16 surrogate.") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_json(key, depth + 1)
            _check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, depth + 1)


def problem(
    status_code: int,
    *,
    code: str,
    title: str,
    detail: str,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": f"urn:candor:problem:{code}",
        "title": title,
        "status": status_code,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    response = Response(body, status=status_code, headers=headers)
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def _flatten_errors(data: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF error trees → {"field.sub": ["message", …]}."""
    if isinstance(data, dict):
        out: dict[str, list[str]] = {}
        for key, value in data.items():
            name = "body" if key == "non_field_errors" and not prefix else key
            out.update(_flatten_errors(value, f"{prefix}.{name}" if prefix else str(name)))
        return out
    if isinstance(data, list) and data and all(isinstance(item, str) for item in data):
        return {prefix or "body": [str(item) for item in data]}
    if isinstance(data, list):
        out = {}
        for index, value in enumerate(data):
            if value:
                out.update(_flatten_errors(value, f"{prefix}[{index}]" if prefix else f"[{index}]"))
        return out
    return {prefix or "body": [str(data)]}


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every API error leaves as application/problem+json (RFC 9457)."""
    # Imported here: rest_framework.views loads DRF's settings, which import this module.
    from rest_framework.views import set_rollback

    set_rollback()
    if isinstance(exc, ApplicationError):
        return problem(exc.status, code=exc.code, title=exc.title, detail=exc.detail, errors=exc.errors)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: let Django answer 500 and log it

    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.wait)))  # type: ignore[attr-defined]

    if isinstance(exc, exceptions.ValidationError):
        # The body parsed, but its content is not acceptable: 422 with per-field messages.
        errors = _flatten_errors(exc.detail)
        return problem(
            Unprocessable.status,
            code=Unprocessable.code,
            title=Unprocessable.title,
            detail="The request body has invalid fields; see errors.",
            errors=errors,
        )
    code = str(getattr(exc, "default_code", "error")).replace("_", "-")
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    return problem(
        exc.status_code,
        code=code,
        title=problem_title(code, exc.status_code),
        detail=str(detail),
        headers=headers,
    )


# One fixed title per problem type (RFC 9457 §3.1.3: the title does not change from occurrence
# to occurrence). DRF's default_detail is no title: some are templates ('Method "{method}" not
# allowed') that DRF formats only into the detail.
PROBLEM_TITLES = {
    "parse-error": "Bad request",
    "not-authenticated": "Not authenticated",
    "authentication-failed": "Authentication failed",
    "permission-denied": "Permission denied",
    "not-found": "Not found",
    "method-not-allowed": "Method not allowed",
    "not-acceptable": "Not acceptable",
    "length-required": "Length required",
    "payload-too-large": "Payload too large",
    "unsupported-media-type": "Unsupported media type",
    "throttled": "Too many requests",
}


def problem_title(code: str, status_code: int) -> str:
    if code in PROBLEM_TITLES:
        return PROBLEM_TITLES[code]
    return HTTPStatus(status_code).phrase.capitalize()


# --- Opaque cursors ----------------------------------------------------------------


MAX_CURSOR_VALUE = 2**63 - 1


def encode_cursor(*values: int) -> str:
    """An opaque cursor for a position of one or more non-negative whole numbers."""
    text = f"c{len(values)}:" + ".".join(str(value) for value in values)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor_parts(raw: str, *, count: int, field: str = "cursor") -> tuple[int, ...]:
    """The `count` numbers encode_cursor put in `raw`; 422 naming `field` for anything else."""
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        tag, value = text.split(":", 1)
        if tag != f"c{count}":
            raise ValueError(tag)
        parts = value.split(".")
        # isdigit() refuses signs, spaces and underscores that int() would accept.
        if len(parts) != count or not all(part.isascii() and part.isdigit() for part in parts):
            raise ValueError(value)
        numbers = tuple(int(part) for part in parts)
        if any(number > MAX_CURSOR_VALUE for number in numbers):
            raise ValueError(value)  # more than a bigint column holds
        return numbers
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise Unprocessable.for_field(field, "This cursor is not one this API issued.") from None


def decode_cursor(raw: str) -> int:
    return decode_cursor_parts(raw, count=1)[0]


def keyset_page(
    rows: Sequence[Row], limit: int, key: Callable[[Row], int] = attrgetter("pk")
) -> tuple[list[Row], str | None]:
    """One page of `rows` (fetched with one row past `limit`, to know whether more follow) and
    the cursor of the next page: the key of the page's last row, or None at the end."""
    page = list(rows[:limit])
    return page, encode_cursor(key(page[-1])) if len(rows) > limit else None


def parse_limit(raw: str | None, *, default: int = 50, maximum: int = 500) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Unprocessable.for_field("limit", "limit must be a whole number.") from None
    if not 1 <= value <= maximum:
        raise Unprocessable.for_field("limit", f"limit must be between 1 and {maximum}.")
    return value
