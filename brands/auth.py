"""API key authentication: `Authorization: Bearer <key>` decides the brand."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework.request import Request

from brands.models import ApiKey, Brand, hash_api_key

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
        api_key = (
            ApiKey.objects.select_related("brand")
            .filter(key_hash=hash_api_key(raw_key), revoked_at__isnull=True)
            .first()
        )
        if api_key is None:
            raise exceptions.AuthenticationFailed("The API key is not valid.")
        now = timezone.now()
        if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        return ApiPrincipal(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class HasScopes(permissions.BasePermission):
    """Views declare `required_scopes`; a key needs all of them (or `admin`)."""

    message = "This API key lacks the scope this endpoint needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = request.user
        if not isinstance(principal, ApiPrincipal):
            raise exceptions.NotAuthenticated("Send 'Authorization: Bearer <api key>'.")
        required = {str(scope) for scope in getattr(view, "required_scopes", {}).get(request.method, set())}
        if not principal.api_key.has_scopes(required):
            self.message = f"This API key needs the scope(s) {', '.join(sorted(required))}."
            return False
        return True


class ApiKeyRateThrottle(throttling.SimpleRateThrottle):
    scope = "api_key"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        principal = request.user
        if isinstance(principal, ApiPrincipal):
            return f"throttle:api_key:{principal.api_key.pk}"
        return None


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "brands.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A brand's API key, e.g. cnd_1a2b3c4d_…",
        }
