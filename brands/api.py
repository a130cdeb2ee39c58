"""The base of every brand-facing API view."""

from __future__ import annotations

from rest_framework.views import APIView

from brands.auth import ApiPrincipal


class BrandApiView(APIView):
    """`required_scopes` per method (checked by brands.auth.HasScopes); the key's brand is
    principal().brand, and every read and write a view makes is scoped by it."""

    required_scopes: dict[str, set[str]] = {}

    def principal(self) -> ApiPrincipal:
        user = self.request.user
        assert isinstance(user, ApiPrincipal)  # guaranteed by HasScopes
        return user
