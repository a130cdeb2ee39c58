"""The audit log's vocabulary: who acted (`Actor`) and what they did (`AuditAction`).

Every configuration change and staff action writes one `brands.models.AuditEntry` through
`brands.services.audit_record`, in the transaction of the change (the Zulip habit in STYLE.md).
This module holds no writes; it is the bottom of the dependency graph, like the rest of brands.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.db import models

from brands.models import ApiKey


class ActorKind(models.TextChoices):
    STAFF = "staff", "Brand staff (the console)"
    API_KEY = "api_key", "An API key"
    OPERATOR = "operator", "An operator (Django admin, or a management command run by a person)"
    SYSTEM = "system", "Candor itself (seeding, the worker)"


@dataclass(frozen=True)
class Actor:
    """Who made a change. `ref` identifies them and is never a secret: a key's public prefix,
    a user's username, the OS user who ran a command, or the part of Candor that acted. `name`
    says more (the key's name, the command)."""

    kind: str
    ref: str
    name: str = ""
    user_id: int | None = None

    @classmethod
    def for_api_key(cls, api_key: ApiKey) -> Actor:
        return cls(kind=ActorKind.API_KEY, ref=api_key.prefix, name=api_key.name)

    @classmethod
    def staff(cls, user: Any) -> Actor:
        return cls(kind=ActorKind.STAFF, ref=user.get_username(), user_id=user.pk)

    @classmethod
    def operator(cls, user: Any) -> Actor:
        """A person in the Django admin."""
        return cls(kind=ActorKind.OPERATOR, ref=user.get_username(), name="admin", user_id=user.pk)

    @classmethod
    def command(cls, name: str) -> Actor:
        """A person running `manage.py <name>`: known by the OS user, which is all there is."""
        try:
            os_user = getpass.getuser()
        except (OSError, KeyError):  # no login name in a bare container
            os_user = "unknown"
        return cls(kind=ActorKind.OPERATOR, ref=f"os:{os_user}", name=f"manage.py {name}")

    @classmethod
    def system(cls, component: str) -> Actor:
        return cls(kind=ActorKind.SYSTEM, ref=component)

    @classmethod
    def from_request(cls, request: Any) -> Actor:
        """The actor of an API request (its key) or of a signed-in person's request: the admin's
        operator under /admin/, otherwise staff of the console."""
        from brands.auth import ApiPrincipal  # the DRF side; kept out of the model layer's import

        user = getattr(request, "user", None)
        if isinstance(user, ApiPrincipal):
            return cls.for_api_key(user.api_key)
        if user is None or not user.is_authenticated:
            raise ValueError("An anonymous request changes nothing that is audited.")
        if request.path.startswith("/admin/"):
            return cls.operator(user)
        return cls.staff(user)


class AuditAction(StrEnum):
    """Every audited action, as the stable string stored in `AuditEntry.action` and served by
    `GET /api/v1/audit`. Add new ones at the end; never rename, renumber or reuse one (entries
    already written name it, and clients filter by it). Each member's doc says what its entry
    holds: the target, and what `before` and `after` carry (only the fields that changed)."""

    _doc: str

    def __new__(cls, value: str, doc: str) -> AuditAction:
        member = str.__new__(cls, value)
        member._value_ = value
        member._doc = doc
        return member

    @property
    def doc(self) -> str:
        return self._doc

    BRAND_CREATED = (
        "brand.created",
        "A brand was made. Target `brand` (slug); after: slug, name, default_language, jurisdiction.",
    )
    BRAND_UPDATED = (
        "brand.updated",
        "The brand's own fields changed: the theme (name, colour, logo, typeface, texts), contact "
        "details, languages, jurisdiction, evidence retention. Target `brand`; before/after: the "
        "fields that changed.",
    )
    PURPOSE_CREATED = (
        "purpose.created",
        "A purpose was added. Target `purpose` (slug); after: every field it was made with.",
    )
    PURPOSE_UPDATED = (
        "purpose.updated",
        "A purpose's fields changed. Target `purpose`; before/after: the fields that changed.",
    )
    NOTICE_VERSION_PUBLISHED = (
        "notice.version_published",
        "A new version of a purpose's notice text was published in one language (publishing the "
        "current text again writes none). Target `purpose`; before: the version it replaces "
        "(`notice_version`, `version`, `content_hash`), absent for the first; after: the new "
        "one's `notice_version`, `language`, `version`, `title`, `content_hash`.",
    )
    TOPIC_CREATED = (
        "topic.created",
        "A topic was added. Target `topic` (slug); after: every field it was made with (purposes by slug).",
    )
    TOPIC_UPDATED = (
        "topic.updated",
        "A topic's fields changed (channels, cadence options…). Target `topic`; before/after: "
        "the fields that changed.",
    )
    TOPIC_DELETED = (
        "topic.deleted",
        "An unused topic was deleted. Target `topic`; before: its fields.",
    )
    CONFIG_APPLIED = (
        "config.applied",
        "A whole configuration document was applied (`PUT /api/v1/config`, `apply_brand_config`) "
        "and changed something; each change also has its own entry, in the same transaction "
        "(same `txid`). Target `brand`; after: `created`, `updated`, `notices_published`, "
        "`deleted` (as the apply summary names them) and `prune`.",
    )
    API_KEY_CREATED = (
        "api_key.created",
        "An API key was issued. Target `api_key` (its public prefix); after: name, scopes. "
        "Never the key or its hash.",
    )
    API_KEY_REVOKED = (
        "api_key.revoked",
        "An API key was revoked. Target `api_key`; before: revoked_at null; after: revoked_at.",
    )
    ENDPOINT_CREATED = (
        "endpoint.created",
        "A webhook endpoint was registered. Target `endpoint` (public id); after: url (without "
        "its query, which may hold a token), description, event_types, include_personal_data, "
        "pseudonymous_contacts. Never the secret.",
    )
    ENDPOINT_UPDATED = (
        "endpoint.updated",
        "An endpoint's url, description, event filter or personal-data settings changed. "
        "Target `endpoint`; before/after: the fields that changed.",
    )
    ENDPOINT_SECRET_ROTATED = (
        "endpoint.secret_rotated",
        "An endpoint's signing secret was replaced. Target `endpoint`; after: "
        "previous_secret_expires_at (when the old secret stops signing). Never a secret.",
    )
    ENDPOINT_DISABLED = (
        "endpoint.disabled",
        "An endpoint was disabled, by a person or by Candor (a 410 answer, days of failures: "
        "actor `system`). Target `endpoint`; before: status; after: status; reason: why.",
    )
    ENDPOINT_ENABLED = (
        "endpoint.enabled",
        "A disabled endpoint was enabled again. Target `endpoint`; before/after: status.",
    )
    ENDPOINT_DELETED = (
        "endpoint.deleted",
        "An endpoint was removed with its delivery log. Target `endpoint`; before: url, status.",
    )
    MEMBERSHIP_CREATED = (
        "membership.created",
        "A person became a member of the brand. Target `user` (user id); after: user (username), role.",
    )
    MEMBERSHIP_ROLE_CHANGED = (
        "membership.role_changed",
        "A member's role changed. Target `user`; before/after: role.",
    )
    MEMBERSHIP_REMOVED = (
        "membership.removed",
        "A member was removed from the brand. Target `user`; before: user, role.",
    )
    INVITATION_CREATED = (
        "invitation.created",
        "Someone was invited to join the brand (accepting it records membership.created). "
        "Target `invitation`; after: email, role, expires_at.",
    )
    INVITATION_REVOKED = (
        "invitation.revoked",
        "An open invitation was withdrawn, by hand or by a newer one to the same address. "
        "Target `invitation`; before: email, role.",
    )
    ENDPOINT_TEST_SENT = (
        "endpoint.test_sent",
        "A webhook.test message was queued for one endpoint. Target `endpoint`; after: "
        "delivery (the test delivery's public id).",
    )
    ENDPOINT_REDELIVERED = (
        "endpoint.redelivered",
        "Deliveries of an endpoint were queued to be sent again. Target `endpoint`; after: "
        "delivery (one delivery's public id) or since (every delivery made since then), and "
        "redelivered (how many were queued).",
    )
    HOLD_STARTED = (
        "hold.started",
        "A person on the brand's staff paused a contact's marketing (the console's support desk). "
        "Target `contact` (its internal id, never an address); after: hold (public id), until, "
        "topics, channels, started_by; reason: the agent's reason, as the hold keeps it.",
    )
    HOLD_ENDED = (
        "hold.ended",
        "A person on the brand's staff ended a contact's hold early (ending one already over "
        "writes none). Target `contact`; before: hold, until, ended_at null; after: hold, "
        "ended_at, end_reason.",
    )
    LINK_SENT = (
        "link.sent",
        "A person on the brand's staff emailed a contact a fresh preference-centre link. Target "
        "`contact`; after: kind (`manage`), channel (`email`). Never the link or the address.",
    )
    QUIZ_CREATED = (
        "quiz.created",
        "A quiz was created as a draft. Target `quiz` (public id); after: title, draft (a digest "
        "of the document, not the document).",
    )
    QUIZ_DRAFT_SAVED = (
        "quiz.draft_saved",
        "A quiz's draft was replaced (the live version is unchanged). Target `quiz`; before/after: "
        "title, draft (digests).",
    )
    QUIZ_PUBLISHED = (
        "quiz.published",
        "A quiz's draft became its live version. Target `quiz`; before: version (null the first "
        "time); after: version, draft (digest).",
    )
    QUIZ_ARCHIVED = (
        "quiz.archived",
        "A quiz stopped taking answers. Target `quiz`; before/after: status.",
    )
    CONNECTOR_CREATED = (
        "connector.created",
        "A CRM or marketing connector was added. Target `connector` (public id); after: vendor, "
        "name, mapping, api_base_url, status. Never the credentials.",
    )
    CONNECTOR_UPDATED = (
        "connector.updated",
        "A connector's name, mapping, API host or status changed, or its credentials were "
        "replaced. Target `connector`; before/after: the fields that changed (credentials only "
        "as `credentials_replaced: true`).",
    )
    CONNECTOR_DELETED = (
        "connector.deleted",
        "A connector was removed with its delivery log. Target `connector`; before: vendor, name, status.",
    )
    CONNECTOR_BACKFILL_STARTED = (
        "connector.backfill_started",
        "A push of every existing contact to a connector's vendor was started. Target "
        "`connector`; after: run (its public id), total (contacts).",
    )
    CONNECTOR_RECONCILE_STARTED = (
        "connector.reconcile_started",
        "A drift reconcile of a connector was started on demand (the schedule's runs are not "
        "audited). Target `connector`; after: run (its public id), trigger.",
    )


# Field names that hold a secret, a key hash or a token. An entry never carries them: the
# service refuses to write one (a programming error), and tests scan every entry for values.
SECRET_FIELDS = frozenset(
    {
        "secret",
        "previous_secret",
        "key_hash",
        "raw_key",
        "password",
        "token",
        "auth_token",
        "credentials",
        "api_key",
    }
)


def audit_value(value: Any) -> Any:
    """`value` as JSON an entry can hold: a related row by its public name (slug or public
    id), times in ISO 8601, sequences as lists."""
    if isinstance(value, models.Model):
        for name in ("slug", "public_id", "prefix"):
            if hasattr(value, name):
                return str(getattr(value, name))
        return value.pk
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(key): audit_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [audit_value(item) for item in value]
    return value


def audit_fields(instance: Any, names: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """The named fields of a row, as audit_value gives them."""
    return {name: audit_value(getattr(instance, name)) for name in names}


def audit_diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields whose value changed, as (before, after)."""
    changed = [name for name in after if before.get(name) != after[name]]
    return {name: before.get(name) for name in changed}, {name: after[name] for name in changed}
