"""Creating, changing, testing and deleting connectors. The vendor is asked (its lists, for the
mapping) before any transaction opens: no database transaction waits on a vendor."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from brands.audit import Actor, AuditAction, audit_diff
from brands.models import Brand
from brands.services import audit_record
from config.errors import Unprocessable
from sync.delivery.connectors.crypto import credentials_decrypt, credentials_encrypt, credentials_reencrypt
from sync.delivery.connectors.erasure_notices import erasure_notices_reseal
from sync.delivery.connectors.registry import adapter_for, vendors_built
from sync.delivery.connectors.vendors import AccountView, Adapter, Target, VendorError
from sync.delivery.selectors import endpoints_cache_key
from sync.delivery.sending import http_client
from sync.delivery.ssrf import url_normalise
from sync.models import Connector, Endpoint, EventType
from sync.outbox import feed
from sync.outbox.contact_state import brand_catalogue

# What a connector hears about: every change of consent or preferences, and erasures.
CONNECTOR_EVENTS = sorted(
    {
        EventType.CONSENT_GRANTED,
        EventType.CONSENT_WITHDRAWN,
        EventType.CONSENT_EXPIRED,
        EventType.PREFERENCES_UPDATED,
        EventType.CONTACT_UNSUBSCRIBED,
        EventType.CONTACT_UPDATED,  # a new address: the vendor's record follows it
        EventType.CONTACT_ERASED,
    }
)


def _adapter(vendor: str) -> Adapter:
    adapter = adapter_for(vendor)
    if adapter is None:
        built = ", ".join(vendors_built())
        raise Unprocessable.for_field(
            "vendor", f"The {vendor} connector is not available yet (available: {built})."
        )
    return adapter


def _base_url(adapter: Adapter, api_base_url: str) -> str:
    url, problems = url_normalise(
        api_base_url or adapter.default_base_url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE
    )
    parts = urlsplit(url)
    if not problems and (parts.query or parts.path not in ("", "/")):
        problems = ("Give the host only (https://host[:port]), without a path or query.",)
    if problems:
        raise Unprocessable(
            "The API base URL is not allowed; see errors.", errors={"api_base_url": list(problems)}
        )
    return url.rstrip("/")


def _checked(
    *, brand: Brand, adapter: Adapter, credentials: dict[str, Any], mapping: Any, base_url: str
) -> None:
    """Credentials, mapping and host, then the mapping against what the vendor's account holds;
    Unprocessable naming each bad field (the unknown vendor lists by id)."""
    errors: dict[str, list[str]] = {}
    credential_problems = adapter.credentials_errors(credentials)
    if credential_problems:
        errors["credentials"] = credential_problems
    catalogue = brand_catalogue(brand_id=brand.pk)
    errors.update(adapter.mapping_errors(mapping, topics=catalogue.topics, purposes=catalogue.purposes))
    if errors:
        raise Unprocessable("The connector has invalid fields; see errors.", errors=errors)
    target = Target(public_id="", base_url=base_url, credentials=credentials, mapping=mapping)
    view = _account_view(adapter, target)
    known = {row["id"] for row in view.lists}
    unknown = sorted(adapter.mapping_lists(mapping) - known)
    if unknown:
        message = f"Unknown {adapter.vendor} list(s): {', '.join(unknown)}. The account has: " + (
            ", ".join(f"{row['id']} ({row['name']})" for row in view.lists) or "none"
        )
        raise Unprocessable(message, errors={"mapping": [message]})


def _account_view(adapter: Adapter, target: Target) -> AccountView:
    try:
        return adapter.account_view(target, client=http_client())
    except VendorError as exc:
        field = "credentials" if exc.status_code in (401, 403) else "api_base_url"
        raise Unprocessable(f"{adapter.vendor} refused the check: {exc}", errors={field: [str(exc)]}) from exc


def _audited(connector: Connector) -> dict[str, Any]:
    return {
        "vendor": connector.vendor,
        "name": connector.name,
        "mapping": connector.mapping,
        "api_base_url": connector.api_base_url,
    }


def _endpoints_changed(brand_id: int) -> None:
    key = endpoints_cache_key(brand_id)
    transaction.on_commit(lambda: cache.delete(key))


def connector_create(
    *,
    brand: Brand,
    actor: Actor,
    vendor: str,
    name: str,
    credentials: dict[str, Any],
    mapping: dict[str, Any],
    api_base_url: str = "",
) -> Connector:
    """A new active connector. Like a new webhook endpoint, it hears of what happens from now on
    (a backfill of existing contacts is later work)."""
    adapter = _adapter(vendor)
    base_url = _base_url(adapter, api_base_url)
    sealed = credentials_encrypt(credentials)  # first: without keys, the vendor is not even asked
    _checked(brand=brand, adapter=adapter, credentials=credentials, mapping=mapping, base_url=base_url)
    with transaction.atomic():
        end = feed.feed_end(brand=brand)
        endpoint = Endpoint.objects.create(
            brand=brand,
            kind=Endpoint.Kind.CONNECTOR,
            url=base_url,
            description=f"{vendor} connector",
            event_types=CONNECTOR_EVENTS,
            cursor_txid=end.txid,
            cursor_id=end.id,
        )
        connector = Connector.objects.create(
            brand=brand,
            endpoint=endpoint,
            vendor=vendor,
            name=name,
            credentials=sealed,
            mapping=mapping,
            api_base_url=api_base_url,
        )
        _endpoints_changed(brand.pk)
        audit_record(
            brand=brand,
            actor=actor,
            action=AuditAction.CONNECTOR_CREATED,
            target_type="connector",
            target_id=connector.public_id,
            after={**_audited(connector), "status": endpoint.status},
        )
    return connector


def connector_update(
    *,
    connector: Connector,
    actor: Actor,
    name: str | None = None,
    credentials: dict[str, Any] | None = None,
    mapping: dict[str, Any] | None = None,
    api_base_url: str | None = None,
    status: str | None = None,
    disabled_reason: str = "Disabled through the API.",
) -> Connector:
    """Change the fields given; a changed mapping, host or key is checked against the vendor
    again. Enabling resumes where the connector stopped (nothing written meanwhile is lost).
    `disabled_reason` says where a disabling came from (the API, the console)."""
    adapter = _adapter(connector.vendor)
    if credentials is not None or mapping is not None or api_base_url is not None:
        new_base = api_base_url if api_base_url is not None else connector.api_base_url
        base_url = _base_url(adapter, new_base)
        _checked(
            brand=connector.brand,
            adapter=adapter,
            credentials=credentials
            if credentials is not None
            else credentials_decrypt(connector.credentials),
            mapping=mapping if mapping is not None else connector.mapping,
            base_url=base_url,
        )
    with transaction.atomic():
        locked = (
            Connector.objects.select_for_update().select_related("brand", "endpoint").get(pk=connector.pk)
        )
        before = _audited(locked)
        if name is not None:
            locked.name = name
        if mapping is not None:
            locked.mapping = mapping
        if api_base_url is not None:
            locked.api_base_url = api_base_url
            Endpoint.objects.filter(pk=locked.endpoint_id).update(url=_base_url(adapter, api_base_url))
        if credentials is not None:
            locked.credentials = credentials_encrypt(credentials)
        locked.save()
        changed_before, changed_after = audit_diff(before, _audited(locked))
        if credentials is not None:
            changed_after["credentials_replaced"] = True
        status_before = locked.endpoint.status
        if status is not None and status != status_before:
            if status == Endpoint.Status.DISABLED:
                fields: dict[str, Any] = {"status": status, "disabled_reason": disabled_reason}
            else:
                fields = {"status": status, "disabled_reason": "", "disabled_at": None, "failing_since": None}
            Endpoint.objects.filter(pk=locked.endpoint_id).update(**fields)
            _endpoints_changed(locked.brand_id)
            changed_before["status"], changed_after["status"] = status_before, status
        if changed_after:
            audit_record(
                brand=locked.brand,
                actor=actor,
                action=AuditAction.CONNECTOR_UPDATED,
                target_type="connector",
                target_id=locked.public_id,
                before=changed_before,
                after=changed_after,
            )
    return Connector.objects.select_related("endpoint").get(pk=connector.pk)


def connector_delete(*, connector: Connector, actor: Actor) -> None:
    """Remove the connector, its endpoint and delivery log."""
    with transaction.atomic():
        locked = (
            Connector.objects.select_for_update()
            .select_related("brand", "endpoint")
            .filter(pk=connector.pk)
            .first()
        )
        if locked is None:
            return
        before = {"vendor": locked.vendor, "name": locked.name, "status": locked.endpoint.status}
        _endpoints_changed(locked.brand_id)
        locked.endpoint.delete()  # cascades to the connector and the deliveries
        audit_record(
            brand=locked.brand,
            actor=actor,
            action=AuditAction.CONNECTOR_DELETED,
            target_type="connector",
            target_id=locked.public_id,
            before=before,
        )


def connector_test(*, connector: Connector) -> AccountView:
    """Ask the vendor whether the stored credentials work and what the account holds; a
    refusal is an answer (ok false), not an error. Writes nothing."""
    adapter = _adapter(connector.vendor)
    target = Target(
        public_id=connector.public_id,
        base_url=connector.endpoint.url,
        credentials=credentials_decrypt(connector.credentials),
        mapping=connector.mapping,
    )
    try:
        return adapter.account_view(target, client=http_client())
    except VendorError as exc:
        return AccountView(ok=False, detail=str(exc))


def connector_keys_rotate() -> int:
    """Re-encrypt every connector's credentials (and erasure notices) under the first
    CONNECTOR_KEYS key; how many connectors."""

    count = 0
    for pk in Connector.objects.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            row = Connector.objects.select_for_update().only("pk", "credentials").get(pk=pk)
            Connector.objects.filter(pk=pk).update(credentials=credentials_reencrypt(row.credentials))
            count += 1
    erasure_notices_reseal()  # the erased contacts' addresses a vendor still has to be told
    return count
