from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.utils import timezone

from brands.audit import SECRET_FIELDS, Actor, AuditAction, audit_diff, audit_fields, audit_value
from brands.emails import invitation_email_send
from brands.models import (
    ApiKey,
    AuditEntry,
    AuditLog,
    Brand,
    Invitation,
    Membership,
    Scope,
    hash_api_key,
    hash_invitation_token,
)
from brands.selectors import api_key_forget
from config.db import insert_from_arrays
from config.errors import Conflict, Forbidden, NotFound, Unprocessable
from config.services import fields_update, model_clean

KEY_PREFIX = "cnd_"


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    raw_key: str  # shown once, never stored


_BRAND_INVALID = "The brand is not valid; see errors."
AUDIT_REASON_MAX_LENGTH = AuditEntry._meta.get_field("reason").max_length or 500


# --- The audit log -----------------------------------------------------------------------


def _secret_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {key for key in value if key in SECRET_FIELDS}
        for item in value.values():
            found |= _secret_keys(item)
        return found
    if isinstance(value, list):
        return set().union(*(_secret_keys(item) for item in value)) if value else set()
    return set()


def audit_reason_checked(reason: str) -> str:
    """A reason as stored (trimmed), or Unprocessable naming `reason`."""
    reason = (reason or "").strip()
    if "\x00" in reason:
        raise Unprocessable.for_field("reason", "reason must not contain NUL characters.")
    if len(reason) > AUDIT_REASON_MAX_LENGTH:
        raise Unprocessable.for_field(
            "reason", f"reason must be at most {AUDIT_REASON_MAX_LENGTH} characters."
        )
    return reason


def audit_record(
    *,
    brand: Brand,
    actor: Actor,
    action: AuditAction,
    target_type: str,
    target_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> AuditEntry:
    """Append one entry to the brand's audit log. Call it inside the transaction of the change
    it records, after the change has passed every check: a refused or rolled-back change then
    leaves no entry, and an accepted one always has its entry."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record belongs inside the transaction of the change it records.")
    if not isinstance(action, AuditAction):  # only the documented, stable types
        raise ValueError(f"Unknown audit action {action!r}; add it to brands.audit.AuditAction.")
    before, after = audit_value(before), audit_value(after)
    leaked = _secret_keys(before) | _secret_keys(after)
    if leaked:  # a programming error: secrets never reach the log
        raise ValueError(f"An audit entry must not carry {sorted(leaked)}.")
    entry = AuditEntry.objects.create(
        brand=brand,
        at=timezone.now(),
        actor_kind=actor.kind,
        actor_ref=actor.ref,
        actor_name=actor.name,
        actor_user_id=actor.user_id,
        action=action.value,
        target_type=target_type,
        target_id=str(target_id),
        before=before,
        after=after,
        reason=audit_reason_checked(reason),
    )
    sql, params = insert_from_arrays(AuditLog, [AuditLog(brand=brand, entries=1)])
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} {_audit_log_counted()}", params)
    return entry


@cache
def _audit_log_counted() -> str:
    """Added to the INSERT of an AuditLog row for one more entry: a brand's existing count grows
    by one. The row stays locked until the change commits, so the counts of one brand's changes
    follow their commits."""
    quote = connection.ops.quote_name
    table, entries = quote(AuditLog._meta.db_table), quote(AuditLog._meta.get_field("entries").column)
    brand = quote(AuditLog._meta.get_field("brand").column)
    return f"ON CONFLICT ({brand}) DO UPDATE SET {entries} = {table}.{entries} + EXCLUDED.{entries}"


def audit_entries_release(*, brand: Brand) -> None:
    """Let this transaction delete the brand's audit entries, which the database otherwise
    refuses: only for deleting the whole brand (its entries then go with it, by CASCADE). A
    brand with a consent ledger cannot be deleted anyway (its contacts are PROTECTed and its
    ledger refuses DELETE), so in practice this serves a brand made by mistake."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_entries_release belongs inside the brand's deletion transaction.")
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('candor.audit_release_brand', %s, true)", [str(brand.pk)])


@transaction.atomic
def brand_delete(*, brand: Brand) -> None:
    """Delete a brand with everything that is only its configuration, its audit log included.
    The ledger's protections still hold: a brand with contacts is refused by the database."""
    audit_entries_release(brand=brand)
    Brand.objects.filter(pk=brand.pk).delete()


def _language_checked(language: str) -> None:
    """A brand speaks first in a language the hosted pages and notices support."""
    supported = [code for code, _name in settings.LANGUAGES]
    if language not in supported:
        raise Unprocessable.for_field(
            "default_language", f"Use one of the supported languages: {', '.join(supported)}."
        )


@transaction.atomic
def brand_create(
    *, actor: Actor, slug: str, name: str, default_language: str = "en", jurisdiction: str = "EU"
) -> tuple[Brand, bool]:
    """The brand with this slug: made now (True) or as it was (False)."""
    _language_checked(default_language)
    brand, created = Brand.objects.get_or_create(
        slug=slug,
        defaults={"name": name, "default_language": default_language, "jurisdiction": jurisdiction},
    )
    if created:
        model_clean(brand, invalid=_BRAND_INVALID)  # raising rolls the row back
        audit_record(
            brand=brand,
            actor=actor,
            action=AuditAction.BRAND_CREATED,
            target_type="brand",
            target_id=brand.slug,
            after=audit_fields(brand, ("slug", "name", "default_language", "jurisdiction")),
        )
    return brand, created


@transaction.atomic
def brand_update(*, brand: Brand, actor: Actor, **fields: Any) -> Brand:
    """Change the fields given (name, languages, contact details, colours…). The slug stays: it
    names the brand in every link and receipt already sent."""
    if "slug" in fields or "config_stamp" in fields:
        raise Unprocessable.for_field("slug", "A brand's slug cannot change.")
    if "default_language" in fields:
        _language_checked(fields["default_language"])
    locked = Brand.objects.select_for_update().get(pk=brand.pk)
    names = [name for name in fields if hasattr(locked, name)]
    before = audit_fields(locked, names)
    updated = fields_update(locked, fields, invalid=_BRAND_INVALID)
    changed_before, changed_after = audit_diff(before, audit_fields(updated, names))
    if changed_after:
        audit_record(
            brand=updated,
            actor=actor,
            action=AuditAction.BRAND_UPDATED,
            target_type="brand",
            target_id=updated.slug,
            before=changed_before,
            after=changed_after,
        )
    # API keys are cached with their brand: the next request reads the brand as it is now.
    key_hashes = list(ApiKey.objects.filter(brand=locked).values_list("key_hash", flat=True))

    def forget() -> None:
        for key_hash in key_hashes:
            api_key_forget(key_hash=key_hash)

    transaction.on_commit(forget)
    return updated


_LAST_OWNER = "A brand needs at least one owner: make someone else an owner first."


def _owners_locked(brand: Brand) -> list[int]:
    """The ids of the brand's owner memberships, locked, so two owners cannot demote or remove
    each other at the same moment and leave the brand with none."""
    return list(
        Membership.objects.select_for_update()
        .filter(brand=brand, role=Membership.Role.OWNER)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


@transaction.atomic
def membership_set(*, user: Any, brand: Brand, role: str, actor: Actor) -> Membership:
    """Give `user` this role in `brand` (a new membership, or the role of the one there). The
    last owner cannot be demoted."""
    if role not in Membership.Role.values:
        raise Unprocessable.for_field("role", f"Choose one of: {', '.join(Membership.Role.values)}.")
    owners = _owners_locked(brand)
    membership, created = Membership.objects.select_for_update().get_or_create(
        user=user, brand=brand, defaults={"role": role}
    )
    if role != Membership.Role.OWNER and owners == [membership.pk]:
        raise Conflict(_LAST_OWNER, errors={"role": [_LAST_OWNER]})
    role_before = membership.role
    membership = fields_update(membership, {"role": role}, invalid="The membership is not valid; see errors.")
    if created:
        audit_record(
            brand=brand,
            actor=actor,
            action=AuditAction.MEMBERSHIP_CREATED,
            target_type="user",
            target_id=str(user.pk),
            after={"user": user.get_username(), "role": membership.role},
        )
    elif membership.role != role_before:
        audit_record(
            brand=brand,
            actor=actor,
            action=AuditAction.MEMBERSHIP_ROLE_CHANGED,
            target_type="user",
            target_id=str(user.pk),
            before={"role": role_before},
            after={"role": membership.role},
        )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor: Actor) -> None:
    """Remove a member; the last owner stays."""
    owners = _owners_locked(membership.brand)
    locked = (
        Membership.objects.select_for_update()
        .select_related("user", "brand")
        .filter(pk=membership.pk)
        .first()
    )
    if locked is None:
        return  # already gone: nothing happened, nothing to record
    if owners == [locked.pk]:
        raise Conflict(_LAST_OWNER)
    locked.delete()
    audit_record(
        brand=locked.brand,
        actor=actor,
        action=AuditAction.MEMBERSHIP_REMOVED,
        target_type="user",
        target_id=str(locked.user.pk),
        before={"user": locked.user.get_username(), "role": locked.role},
    )


# --- Invitations --------------------------------------------------------------------------------

INVITATION_SALT = "candor.console.invitation"  # binds the link to this purpose alone
_INVITATION_INVALID = "This invitation is not valid: it may have expired, been used or been withdrawn."

InvitationUrlBuilder = Callable[[str], str]
"""Builds the absolute accept link from a signed token (the console's URL): brands does not
know the console's routes."""


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    token: str  # the signed token of the link, sent once by email, never stored


def _email_normalised(email: str) -> str:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise Unprocessable.for_field("email", "Enter a valid email address.") from None
    return email


@transaction.atomic
def invitation_create(
    *, brand: Brand, email: str, role: str, invited_by: Any, url_builder: InvitationUrlBuilder, actor: Actor
) -> IssuedInvitation:
    """Invite `email` to join `brand` as `role`, and email them the link after commit. An open
    invitation to the same address is withdrawn: only the newest link works."""
    email = _email_normalised(email)
    if role not in Membership.Role.values:
        raise Unprocessable.for_field("role", f"Choose one of: {', '.join(Membership.Role.values)}.")
    if Membership.objects.filter(brand=brand, user__email__iexact=email).exists():
        member = "This person is already a member of the brand."
        raise Conflict(member, errors={"email": [member]})
    now = timezone.now()
    for older in Invitation.objects.select_for_update().filter(
        brand=brand, email=email, accepted_at__isnull=True, revoked_at__isnull=True
    ):
        _invitation_withdraw(older, actor=actor, at=now)
    raw = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        brand=brand,
        email=email,
        role=role,
        token_hash=hash_invitation_token(raw),
        invited_by=invited_by,
        expires_at=now + timedelta(days=settings.CONSOLE_INVITATION_DAYS),
    )
    audit_record(
        brand=brand,
        actor=actor,
        action=AuditAction.INVITATION_CREATED,
        target_type="invitation",
        target_id=str(invitation.pk),
        after={"email": email, "role": role, "expires_at": invitation.expires_at},
    )
    token = signing.dumps(raw, salt=INVITATION_SALT, compress=False)
    url = url_builder(token)
    inviter = getattr(invited_by, "email", "") or ""
    transaction.on_commit(lambda: invitation_email_send(invitation=invitation, url=url, inviter=inviter))
    return IssuedInvitation(invitation=invitation, token=token)


def invitation_from_token(token: str, *, lock: bool = False) -> Invitation:
    """The open invitation a link's token names, or NotFound (the same for a forged, expired,
    used or withdrawn link, so none of them tells anything)."""
    try:
        raw = signing.loads(
            token, salt=INVITATION_SALT, max_age=timedelta(days=settings.CONSOLE_INVITATION_DAYS)
        )
    except signing.BadSignature:
        raise NotFound(_INVITATION_INVALID) from None
    queryset = Invitation.objects.select_related("brand")
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    invitation = queryset.filter(token_hash=hash_invitation_token(str(raw))).first()
    if invitation is None or not invitation.is_open(timezone.now()):
        raise NotFound(_INVITATION_INVALID)
    return invitation


def _verified_emails(user: Any) -> set[str]:
    from allauth.account.models import EmailAddress

    return {
        address.lower()
        for address in EmailAddress.objects.filter(user=user, verified=True).values_list("email", flat=True)
    }


@transaction.atomic
def invitation_accept(*, token: str, user: Any) -> Membership:
    """Take the invitation once, for the signed-in `user` whose verified address it was sent to:
    they become a member with its role."""
    invitation = invitation_from_token(token, lock=True)
    if invitation.email not in _verified_emails(user):
        raise Forbidden(
            "This invitation was sent to another email address. Sign in with that address to accept it."
        )
    membership = membership_set(
        user=user, brand=invitation.brand, role=invitation.role, actor=Actor.staff(user)
    )
    Invitation.objects.filter(pk=invitation.pk).update(accepted_at=timezone.now(), accepted_by=user)
    return membership


def _invitation_withdraw(invitation: Invitation, *, actor: Actor, at: datetime) -> None:
    Invitation.objects.filter(pk=invitation.pk).update(revoked_at=at)
    audit_record(
        brand=invitation.brand,
        actor=actor,
        action=AuditAction.INVITATION_REVOKED,
        target_type="invitation",
        target_id=str(invitation.pk),
        before={"email": invitation.email, "role": invitation.role},
    )


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: Actor) -> None:
    """Withdraw an open invitation: its link stops working. A used one stays as it was."""
    locked = (
        Invitation.objects.select_for_update()
        .select_related("brand")
        .filter(pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True)
        .first()
    )
    if locked is not None:
        _invitation_withdraw(locked, actor=actor, at=timezone.now())


def _validate_scopes(scopes: list[str]) -> list[str]:
    valid = set(Scope.values)
    unknown = sorted(set(scopes) - valid)
    if unknown or not scopes:
        raise Unprocessable.for_field(
            "scopes", f"Unknown or missing scopes {unknown}; choose from {sorted(valid)}."
        )
    return sorted(set(scopes))


@transaction.atomic
def api_key_create(*, brand: Brand, actor: Actor, scopes: list[str], name: str = "") -> IssuedKey:
    public = secrets.token_hex(4)
    raw_key = f"{KEY_PREFIX}{public}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        brand=brand,
        name=name,
        prefix=f"{KEY_PREFIX}{public}",
        key_hash=hash_api_key(raw_key),
        scopes=_validate_scopes(scopes),
    )
    audit_record(
        brand=brand,
        actor=actor,
        action=AuditAction.API_KEY_CREATED,
        target_type="api_key",
        target_id=api_key.prefix,
        after={"name": api_key.name, "scopes": api_key.scopes},
    )
    return IssuedKey(api_key=api_key, raw_key=raw_key)


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: Actor) -> None:
    now = timezone.now()
    revoked = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=now)
    transaction.on_commit(lambda: api_key_forget(key_hash=api_key.key_hash))
    if revoked:  # revoking a revoked key changes nothing
        audit_record(
            brand=api_key.brand,
            actor=actor,
            action=AuditAction.API_KEY_REVOKED,
            target_type="api_key",
            target_id=api_key.prefix,
            before={"revoked_at": None},
            after={"revoked_at": now},
        )
