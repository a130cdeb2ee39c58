"""The base of every brand-facing API view."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.views import APIView

from brands.audit import Actor
from brands.auth import ApiPrincipal
from config.errors import Unprocessable

# Every id a path carries (a contact's external id, an event or endpoint id) is stored in a
# column of at most this many characters (consent.Contact.external_id is the longest).
MAX_PATH_ID_LENGTH = 255


def path_id_errors(kwargs: dict[str, Any]) -> dict[str, list[str]]:
    """What is wrong with the ids in a request's path: none may hold NUL (PostgreSQL text
    cannot) or be longer than any stored id."""
    errors: dict[str, list[str]] = {}
    for name, value in kwargs.items():
        if not isinstance(value, str):
            continue
        if "\x00" in value:
            errors[name] = [f"{name} must not contain NUL characters."]
        elif len(value) > MAX_PATH_ID_LENGTH:
            errors[name] = [f"{name} must be at most {MAX_PATH_ID_LENGTH} characters."]
    return errors


class BrandApiView(APIView):
    """`required_scopes` per method (checked by brands.auth.HasScopes, HEAD with GET's); the
    key's brand is principal().brand, and every read and write a view makes is scoped by it."""

    required_scopes: dict[str, set[str]] = {}
    # No OPTIONS (DRF's metadata answer) or TRACE: /api/schema/ describes every operation, and
    # a method outside the scope table must not answer 2xx to any key.
    http_method_names = ["get", "post", "put", "patch", "delete", "head"]
    metadata_class = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication, scopes, rate limit first
        errors = path_id_errors(kwargs)
        if errors:
            raise Unprocessable("The path names an id that cannot exist; see errors.", errors=errors)

    def principal(self) -> ApiPrincipal:
        user = self.request.user
        assert isinstance(user, ApiPrincipal)  # guaranteed by HasScopes
        return user

    def audit_actor(self) -> Actor:
        """Who the audit log names for this request's changes: the key, by its public prefix."""
        return Actor.for_api_key(self.principal().api_key)
