"""The OpenAPI schema's common parts: every operation's problem answers (RFC 9457), 413 and 415
where a body is taken, and descriptions only from what a view says for the schema (its
docstrings are notes for this code's readers, not for a brand's engineers)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_SCHEMA = {
    "type": "object",
    "description": "An error, as RFC 9457 describes it.",
    "properties": {
        "type": {
            "type": "string",
            "description": "urn:candor:problem:<code>, e.g. urn:candor:problem:not-found",
        },
        "title": {"type": "string", "description": "The same for every problem of this type"},
        "status": {"type": "integer", "description": "The HTTP status code"},
        "detail": {"type": "string", "description": "What went wrong with this request"},
        "errors": {
            "type": "object",
            "description": "Per field (dotted path for nested ones): the messages for it",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["type", "title", "status", "detail"],
}
PROBLEMS = {
    401: "No API key, or one that is not valid or was revoked.",
    403: "The API key lacks the scope this operation needs.",
    404: "Nothing of that id in this key's brand.",
    422: "Well-formed but not acceptable (unknown purpose, an id that cannot exist, a bad cursor…); "
    "`errors` names each field.",
    429: "Over the key's rate limit (API_RATE_LIMIT); wait `Retry-After` seconds.",
}
BODY_PROBLEMS = {
    400: "Malformed: a body that is not a JSON object, or a bad `Idempotency-Key`.",
    409: "The request conflicts with the current state (an erased contact, an Idempotency-Key "
    "whose first request is still running…).",
    411: "A chunked body this server cannot read: send Content-Length.",
    413: "The body is larger than API_MAX_BODY_BYTES (64 KiB by default).",
    415: "The body is not application/json.",
}


class CandorAutoSchema(AutoSchema):
    def get_description(self) -> str:  # type: ignore[override]
        return ""  # extend_schema(description=…) is the only source

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        self.registry.register_on_missing(
            ResolvedComponent(
                name="Problem", type=ResolvedComponent.SCHEMA, object="Problem", schema=PROBLEM_SCHEMA
            )
        )
        problems = dict(PROBLEMS)
        if "requestBody" in operation or self.method in ("POST", "PUT", "PATCH"):
            problems.update(BODY_PROBLEMS)
        scopes = sorted(
            str(scope) for scope in getattr(self.view, "required_scopes", {}).get(self.method, ())
        )
        if scopes:
            needs = ", ".join(f"`{scope}`" for scope in scopes)
            note = (
                f"Needs an API key with {needs} (or `admin`)."
                if scopes != ["admin"]
                else "Needs an API key with `admin`."
            )
            operation["description"] = f"{operation.get('description', '')}\n\n{note}".strip()
        responses = operation.setdefault("responses", {})
        # An error status the view declares itself (400 for a bad Idempotency-Key on a DELETE,
        # say) is a problem too.
        for code in responses:
            if code.isdigit() and int(code) >= 400:
                problems.setdefault(int(code), BODY_PROBLEMS.get(int(code), "See the problem's `detail`."))
        for status, description in sorted(problems.items()):
            given = responses.get(str(status), {}).get("description")
            response: dict[str, Any] = {
                # A view's own words for a status (409 of redeliver, say) stand.
                "description": given if given and given != PROBLEM_PLACEHOLDER else description,
                "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            }
            if status == 429:
                response["headers"] = {
                    "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}
                }
            responses[str(status)] = response
        operation["responses"] = dict(sorted(responses.items()))
        return operation


PROBLEM_PLACEHOLDER = "application/problem+json (RFC 9457)"
