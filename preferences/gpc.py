"""Global Privacy Control (W3C GPC; CCPA/CPRA 11 CCR §7025): a browser's opt-out of sale/sharing.

A request that carries `Sec-GPC: 1`, exactly, is an opt-out of every purpose the brand marked
`sale_or_sharing`: each one that is granted or not yet decided gets a `withdrawn` ledger row
with method `gpc` and `gpc: true` in its evidence, without asking the person anything.
Any other value ("1 ", "true", "0") is no signal. A later request without the header changes
nothing: an absent signal is never an opt-in. GPC is not a request to erase anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from django.conf import settings
from django.db.models import OuterRef, Subquery

from brands.models import Brand
from consent.identifiers import truncate_ip
from consent.models import ConsentEvent, ConsentState, Contact, Decision, Method, Purpose
from consent.services import EvidenceInput
from preferences.services import purposes_withdraw

META_KEY = "HTTP_SEC_GPC"  # the Sec-GPC request header, as Django's request.META names it
RECORDED_BY = "gpc"


def gpc_signal(request_meta: Mapping[str, Any]) -> bool:
    """True only for `Sec-GPC: 1` exactly (GPC spec §3: the value is the string "1")."""
    return request_meta.get(META_KEY) == "1"


def _evidence(request_meta: Mapping[str, Any]) -> EvidenceInput:
    try:
        ip = truncate_ip(str(request_meta.get("REMOTE_ADDR") or ""))
    except ValueError:
        ip = ""
    return EvidenceInput(ip=ip, user_agent=str(request_meta.get("HTTP_USER_AGENT") or "")[:512], gpc=True)


def gpc_honour(
    *,
    brand: Brand,
    contact: Contact,
    request_meta: Mapping[str, Any],
    evidence: EvidenceInput | None = None,
) -> list[ConsentEvent]:
    """Record the opt-out a `Sec-GPC: 1` request expresses; the ledger rows written (often none).

    Cheap on every page view: no header, no query; with the header, one query finds the
    sale/sharing purposes still to withdraw, and only if there are any does it take the
    contact's lock (where they are checked again, so two requests at once record one opt-out).
    `evidence` defaults to the request's truncated IP and user agent, with gpc=true.
    """
    if not gpc_signal(request_meta):
        return []
    decision = ConsentState.objects.filter(contact=contact, purpose=OuterRef("pk")).values("decision")[:1]
    pending = [
        slug
        for slug, current in Purpose.objects.filter(brand=brand, sale_or_sharing=True)
        .annotate(current=Subquery(decision))
        .order_by("slug")
        .values_list("slug", "current")
        if current != Decision.WITHDRAWN
    ]
    if not pending:
        return []
    evidence = evidence or _evidence(request_meta)
    result = purposes_withdraw(
        brand=brand,
        external_id=contact.external_id,
        purpose_slugs=pending,
        method=Method.GPC,
        recorded_by=RECORDED_BY,
        evidence=replace(evidence, gpc=True),
    )
    return result.consent_events


def gpc_well_known() -> dict[str, Any]:
    """The body of /.well-known/gpc.json (GPC spec §5), served as application/json."""
    return {"gpc": True, "lastUpdate": settings.GPC_LAST_UPDATE}
