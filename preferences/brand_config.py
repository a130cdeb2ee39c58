"""A brand's whole configuration as one document (theme, purposes with their notice texts,
topics): read from a file and applied through the services the admin and the API use, or
written out so the brand can keep it in version control.

Applying is declarative and safe to repeat: what already matches is left alone, and a notice
text equal to the current version publishes nothing. A field a purpose, topic or the theme
leaves out keeps its value (a new purpose or topic takes the default). Purposes are never
deleted (the ledger names them); topics missing from the document are reported, and deleted
only when asked (`prune`), and only those the service allows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from brands.audit import Actor, AuditAction
from brands.models import Brand
from brands.services import audit_record, brand_update
from config.errors import ApplicationError, Unprocessable
from consent.models import NoticeVersion, Purpose
from consent.services import notice_text_set, purpose_create, purpose_update
from preferences.config_serializers import THEME_FIELDS, BrandConfigIn, PurposeFieldsIn, TopicFieldsIn
from preferences.models import Topic
from preferences.topics import topic_create, topic_delete, topic_update

PURPOSE_FIELDS = tuple(PurposeFieldsIn().fields)
TOPIC_FIELDS = tuple(TopicFieldsIn().fields)
_INVALID = "The configuration is not valid; see errors."


@dataclass
class ApplySummary:
    """What applying changed, each entry naming its object ("purpose email-marketing")."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    notices_published: list[str] = field(default_factory=list)  # "email-marketing de v2"
    deleted: list[str] = field(default_factory=list)
    not_named: list[str] = field(default_factory=list)  # in the brand, not in the document: kept

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.notices_published or self.deleted)


def _paths(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's error tree as {"purposes[1].notices.de.text": [messages]}."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(key, int):
                name = f"{prefix}[{key}]"
            elif key == "non_field_errors":
                name = prefix or "(file)"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            out.update(_paths(value, name))
        return out
    if isinstance(detail, list) and all(isinstance(item, str) for item in detail):
        return {prefix or "(file)": [str(item) for item in detail]} if detail else {}
    if isinstance(detail, list):
        out = {}
        for index, value in enumerate(detail):
            out.update(_paths(value, f"{prefix}[{index}]"))
        return out
    return {prefix or "(file)": [str(detail)]}


@contextlib.contextmanager
def _at(path: str) -> Iterator[None]:
    """A service's refusal, with its fields named by their path in the document."""
    try:
        yield
    except ApplicationError as exc:
        errors = {
            path if name == "__all__" else f"{path}.{name}": messages
            for name, messages in (exc.errors or {"__all__": [exc.detail]}).items()
        }
        raise Unprocessable(_INVALID, errors=errors) from None


def brand_config_validated(document: Any) -> dict[str, Any]:
    """The document checked against the configuration's shape (nothing read or written)."""
    if not isinstance(document, dict):
        raise Unprocessable(
            _INVALID, errors={"(file)": ["The file must hold a mapping (theme, purposes, topics)."]}
        )
    serializer = BrandConfigIn(data=document)
    if not serializer.is_valid():
        raise Unprocessable(_INVALID, errors=_paths(serializer.errors))
    return dict(serializer.validated_data)


def _differs(instance: Any, values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if getattr(instance, name) != value}


@transaction.atomic
def brand_config_apply(*, brand: Brand, actor: Actor, document: Any, prune: bool = False) -> ApplySummary:
    """Make the brand's configuration what `document` says, in one transaction: any refusal
    (naming its path in the document) leaves everything as it was.

    Each change writes its own audit entry through its service (so every object's history is
    whole), and a document that changed anything adds one `config.applied` entry summing it up,
    in the same transaction (the entries share its `txid`)."""
    data = brand_config_validated(document)
    summary = ApplySummary()
    brand = Brand.objects.select_for_update().get(pk=brand.pk)  # one applier per brand at a time

    changes = _differs(brand, data.get("theme", {}))
    if changes:
        with _at("theme"):
            brand = brand_update(brand=brand, actor=actor, **changes)
        summary.updated.append(f"theme ({', '.join(changes)})")
    elif "theme" in data:
        summary.unchanged.append("theme")

    purposes = {purpose.slug: purpose for purpose in Purpose.objects.filter(brand=brand)}
    for index, item in enumerate(data.get("purposes", [])):
        path = f"purposes[{index}]"
        slug = item["slug"]
        values = {name: item[name] for name in PURPOSE_FIELDS if name in item}
        with _at(path):
            purpose = purposes.get(slug)
            if purpose is None:
                if "name" not in values:
                    raise Unprocessable.for_field("name", "Give the name of a new purpose.")
                purposes[slug] = purpose_create(brand=brand, actor=actor, slug=slug, **values)
                summary.created.append(f"purpose {slug}")
            elif changes := _differs(purpose, values):
                purposes[slug] = purpose_update(purpose=purpose, actor=actor, **changes)
                summary.updated.append(f"purpose {slug} ({', '.join(changes)})")
            else:
                summary.unchanged.append(f"purpose {slug}")
        for language, texts in item.get("notices", {}).items():
            with _at(f"{path}.notices.{language}"):
                version, published = notice_text_set(
                    purpose=purposes[slug], actor=actor, language=language, **texts
                )
            if published:
                summary.notices_published.append(f"{slug} {language} v{version.version}")

    if "purposes" in data:
        named = {item["slug"] for item in data["purposes"]}
        summary.not_named.extend(f"purpose {slug}" for slug in sorted(set(purposes) - named))

    topics = {topic.slug: topic for topic in Topic.objects.filter(brand=brand)}
    for index, item in enumerate(data.get("topics", [])):
        path = f"topics[{index}]"
        slug = item["slug"]
        values = {name: item[name] for name in TOPIC_FIELDS if name in item}
        for name in ("purpose", "sms_purpose"):
            if values.get(name) is not None:
                if values[name] not in purposes:
                    raise Unprocessable(
                        _INVALID,
                        errors={f"{path}.{name}": [f"No purpose '{values[name]}' in the file or the brand."]},
                    )
                values[name] = purposes[values[name]]
        with _at(path):
            topic = topics.get(slug)
            if topic is None:
                if "name" not in values:
                    raise Unprocessable.for_field("name", "Give the name of a new topic.")
                topic_create(brand=brand, actor=actor, slug=slug, **values)
                summary.created.append(f"topic {slug}")
            elif changes := _differs(topic, values):
                topic_update(topic=topic, actor=actor, **changes)
                summary.updated.append(f"topic {slug} ({', '.join(changes)})")
            else:
                summary.unchanged.append(f"topic {slug}")

    if "topics" in data:
        named = {item["slug"] for item in data["topics"]}
        for slug, topic in sorted(topics.items()):
            if slug in named:
                continue
            if prune:
                with _at(f"topics (pruning '{slug}')"):
                    topic_delete(topic=topic, actor=actor)
                summary.deleted.append(f"topic {slug}")
            else:
                summary.not_named.append(f"topic {slug}")
    if summary.changed:
        audit_record(
            brand=brand,
            actor=actor,
            action=AuditAction.CONFIG_APPLIED,
            target_type="brand",
            target_id=brand.slug,
            after={
                "created": summary.created,
                "updated": summary.updated,
                "notices_published": summary.notices_published,
                "deleted": summary.deleted,
                "prune": prune,
            },
        )
    return summary


def brand_config_export(*, brand: Brand) -> dict[str, Any]:
    """The brand's configuration in the shape brand_config_apply reads: applying it back
    changes nothing. Notices give the current text per language (earlier versions stay in the
    database, as evidence)."""
    brand = Brand.objects.get(pk=brand.pk)
    current: dict[int, dict[str, NoticeVersion]] = {}
    versions = NoticeVersion.objects.filter(notice__brand=brand).select_related("notice")
    for version in versions.order_by("language", "-version"):
        current.setdefault(version.notice.purpose_id, {}).setdefault(version.language, version)
    purposes = []
    for purpose in Purpose.objects.filter(brand=brand).order_by("slug"):
        item: dict[str, Any] = {"slug": purpose.slug}
        item.update({name: getattr(purpose, name) for name in PURPOSE_FIELDS})
        item["notices"] = {
            language: {"title": version.title, "text": version.text}
            for language, version in sorted(current.get(purpose.pk, {}).items())
        }
        purposes.append(item)
    topics = []
    for topic in (
        Topic.objects.filter(brand=brand)
        .select_related("purpose", "sms_purpose")
        .order_by("position", "slug")
    ):
        item = {"slug": topic.slug}
        for name in TOPIC_FIELDS:
            value = getattr(topic, name)
            item[name] = value.slug if isinstance(value, Purpose) else value
        topics.append(item)
    return {
        "theme": {name: getattr(brand, name) for name in THEME_FIELDS},
        "purposes": purposes,
        "topics": topics,
    }
