"""Who the audit log names for changes the tests make directly through the services."""

from typing import Any

from brands.audit import Actor

TEST_ACTOR = Actor.system("tests")


def audit_rows(brand: Any, *, since_id: int = 0) -> list[tuple[Any, ...]]:
    """The brand's audit entries, oldest first, as (actor kind, actor ref, action, target type,
    target id, before, after, reason): what a test asserts exactly."""
    from brands.models import AuditEntry

    return list(
        AuditEntry.objects.filter(brand=brand, id__gt=since_id)
        .order_by("id")
        .values_list(
            "actor_kind", "actor_ref", "action", "target_type", "target_id", "before", "after", "reason"
        )
    )


def audit_mark() -> int:
    """The newest entry's id now: audit_rows(brand, since_id=mark) shows only what came after."""
    from brands.models import AuditEntry

    return AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
