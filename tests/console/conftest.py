"""The console's cast: one person per role in our brand, and an outsider who owns another brand
and must see nothing of ours. Owners have a second factor (the console insists)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.auth import get_user_model
from django.test import Client

from brands.models import Brand, Membership

PASSWORD = "a-long-staff-password-9"


def make_person(email: str, *, second_factor: bool = False) -> Any:
    user = get_user_model().objects.create_user(username=email, email=email, password=PASSWORD)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    if second_factor:
        TOTP.activate(user, generate_totp_secret())
    return user


@pytest.fixture
def make_staff(db: None) -> Callable[..., Any]:
    def make(brand: Brand, role: str, email: str | None = None, *, second_factor: bool | None = None) -> Any:
        user = make_person(
            email or f"{role}@{brand.slug}.test",
            second_factor=(role == Membership.Role.OWNER) if second_factor is None else second_factor,
        )
        Membership.objects.create(user=user, brand=brand, role=role)
        return user

    return make


@pytest.fixture
def signed_in() -> Callable[[Any], Client]:
    """A client signed in as `user` (past every sign-in stage)."""

    def sign_in(user: Any) -> Client:
        client = Client()
        client.force_login(user, backend="allauth.account.auth_backends.AuthenticationBackend")
        return client

    return sign_in
