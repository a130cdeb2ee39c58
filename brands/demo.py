"""The demo brand's console owner (seed_demo): a verified address, a password and an
authenticator app already enrolled (owners must have a second factor), so `make run` can print
everything needed to sign in. Development only: the password is public."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from allauth.mfa.utils import decrypt
from django.contrib.auth import get_user_model
from django.db import transaction

from brands.audit import Actor
from brands.models import Brand, Membership
from brands.services import membership_set

DEMO_OWNER_EMAIL = "owner@demo.example"
DEMO_OWNER_PASSWORD = "candor-demo-owner"  # noqa: S105 - a public demo account, development only


@dataclass(frozen=True)
class DemoOwner:
    email: str
    password: str
    totp_secret: str
    recovery_code: str

    @property
    def otpauth_uri(self) -> str:
        label = quote(f"Candor:{self.email}")
        return f"otpauth://totp/{label}?secret={self.totp_secret}&issuer=Candor&digits=6&period=30"


@transaction.atomic
def demo_owner_ensure(*, brand: Brand) -> DemoOwner:
    """The demo owner of `brand`, made once and then as it is (idempotent)."""
    user_model = get_user_model()
    user = user_model.objects.filter(email__iexact=DEMO_OWNER_EMAIL).first()
    if user is None:
        user = user_model.objects.create_user(
            username="demo-owner", email=DEMO_OWNER_EMAIL, password=DEMO_OWNER_PASSWORD
        )
    EmailAddress.objects.update_or_create(
        user=user, email=DEMO_OWNER_EMAIL, defaults={"verified": True, "primary": True}
    )
    if not Membership.objects.filter(user=user, brand=brand, role=Membership.Role.OWNER).exists():
        membership_set(user=user, brand=brand, role=Membership.Role.OWNER, actor=Actor.system("seed_demo"))
    totp = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    if totp is None:
        totp = TOTP.activate(user, generate_totp_secret()).instance
    codes = Authenticator.objects.filter(user=user, type=Authenticator.Type.RECOVERY_CODES).first()
    recovery = RecoveryCodes(codes) if codes is not None else RecoveryCodes.activate(user)
    unused = recovery.get_unused_codes()
    if not unused:  # every code was used: a fresh set
        Authenticator.objects.filter(pk=recovery.instance.pk).delete()
        unused = RecoveryCodes.activate(user).get_unused_codes()
    return DemoOwner(
        email=DEMO_OWNER_EMAIL,
        password=DEMO_OWNER_PASSWORD,
        totp_secret=str(decrypt(totp.data["secret"])),
        recovery_code=unused[-1],  # the last: the one least likely to have been used by hand
    )
