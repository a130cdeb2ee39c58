"""API key authentication: `Authorization: Bearer <key>` decides the brand."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework.request import Request

from brands.models import ApiKey, Brand, Scope, hash_api_key
from brands.selectors import api_key_active, api_key_remember
from config.throttle import throttle_count

# last_used_at is a hint for humans; refreshing it at most once a minute keeps reads read-only.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiPrincipal:
    """What request.user is for API calls: the key, and through it the brand."""

    is_authenticated = True

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key
        self.brand: Brand = api_key.brand

    @property
    def actor(self) -> str:
        return f"api_key:{self.api_key.prefix}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiPrincipal, ApiKey] | None:
        header = authentication.get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() != self.keyword.lower().encode() or len(header) != 2:
            raise exceptions.AuthenticationFailed("Use the header 'Authorization: Bearer <api key>'.")
        try:
            raw_key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The API key is not valid.") from None
        api_key = api_key_active(key_hash=hash_api_key(raw_key))
        if api_key is None:
            raise exceptions.AuthenticationFailed("The API key is not valid.")
        now = timezone.now()
        if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
            api_key.last_used_at = now
            api_key_remember(api_key=api_key)
        return ApiPrincipal(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


def scopes_required(view: Any, method: str) -> set[str] | None:
    """The scopes `method` needs on `view`; None when the view has no such operation.

    HEAD is answered by the GET handler, so it needs GET's scopes. A handler the view does not
    list in `required_scopes` needs `admin`: a method added without its scope fails closed.
    """
    method = "GET" if method == "HEAD" else method
    declared: dict[str, set[str]] = getattr(view, "required_scopes", {})
    if method in declared:
        return {str(scope) for scope in declared[method]}
    name = method.lower()
    if name in getattr(view, "http_method_names", ()) and hasattr(view, name):
        return {Scope.ADMIN.value}
    return None


class HasScopes(permissions.BasePermission):
    """Views declare `required_scopes` per method; a key needs all of them (or `admin`), whatever
    the method, HEAD included. A method the view does not offer goes on to its 405."""

    message = "This API key lacks the scope this endpoint needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = request.user
        if not isinstance(principal, ApiPrincipal):
            raise exceptions.NotAuthenticated("Send 'Authorization: Bearer <api key>'.")
        required = scopes_required(view, str(request.method))
        if required is None:
            return True
        if not principal.api_key.has_scopes(required):
            self.message = f"This API key needs the scope(s) {', '.join(sorted(required))}."
            return False
        return True


class ApiKeyRateThrottle(throttling.BaseThrottle):
    """API_RATE_LIMIT requests per window per key: DRF's throttle hook onto the rate limiter the
    hosted pages use too (config.throttle)."""

    retry_after: int | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        principal = request.user
        if not isinstance(principal, ApiPrincipal):
            return True
        self.retry_after = throttle_count(
            scope="api-key", ident=str(principal.api_key.pk), rate=settings.API_RATE_LIMIT
        )
        return self.retry_after is None

    def wait(self) -> float | None:
        return self.retry_after


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "brands.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A brand's API key, e.g. cnd_1a2b3c4d_…",
        }
