"""Contacts' current state, for readers above the domain (the connectors) that must not import it.

A connector pushes a contact's state as it is when the batch is sent, not as an event described
it: so a retried or late delivery never pushes an older "subscribed" over a later withdrawal.
That state lives in the domain apps (ledger projection, subscriptions, channel opt-outs), which
sit above the outbox; so, as with sync.outbox.listeners, the domain registers its reader here
(preferences.apps) and the connectors call `contacts_state`, knowing only this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class ContactState:
    """One contact as a vendor should see it now. `subscriptions` maps (topic slug, channel) to
    subscribed | unsubscribed | pending | not_set, where not_set already reads as unsubscribed
    when the topic's purpose was withdrawn or the channel opted out (a "no" is never "unknown");
    `consents` maps purpose slug to granted | withdrawn | expired."""

    contact_ref: int
    external_id: str
    email: str | None
    phone: str | None
    erased: bool = False
    suppressed: bool = False
    consents: dict[str, str] = field(default_factory=dict)
    consented_at: dict[str, datetime] = field(default_factory=dict)
    subscriptions: dict[tuple[str, str], str] = field(default_factory=dict)
    subscribed_at: dict[tuple[str, str], datetime] = field(default_factory=dict)
    unsubscribed_all: dict[str, bool] = field(default_factory=dict)


class ContactStateReader(Protocol):
    def __call__(self, *, brand_id: int, contact_refs: Sequence[int]) -> dict[int, ContactState]: ...


_reader: list[ContactStateReader] = []


def contact_state_reader_set(reader: ContactStateReader) -> None:
    """Register the domain's reader (once per process, from preferences.apps)."""
    _reader[:] = [reader]


def contacts_state(*, brand_id: int, contact_refs: Sequence[int]) -> dict[int, ContactState]:
    """The brand's contacts' current state by contact_ref; a contact not found (deleted) is absent."""
    if not _reader:
        raise RuntimeError("No contact state reader is registered (preferences.apps registers it).")
    return _reader[0](brand_id=brand_id, contact_refs=contact_refs)


class ExternalIdsReader(Protocol):
    def __call__(self, *, brand_id: int, contact_refs: Sequence[int]) -> dict[int, str]: ...


_external_ids: list[ExternalIdsReader] = []


def contact_external_ids_reader_set(reader: ExternalIdsReader) -> None:
    """Register the domain's reader (once per process, from preferences.apps)."""
    _external_ids[:] = [reader]


def contacts_external_ids(*, brand_id: int, contact_refs: Sequence[int]) -> dict[int, str]:
    """The brand's live contacts' external ids by contact_ref (an erased or deleted one is
    absent): one read, for a vendor's webhook call that names contacts by the vendor's own id
    and must be answered quickly (contacts_state reads everything about a contact)."""
    if not _external_ids:
        raise RuntimeError("No external ids reader is registered (preferences.apps registers it).")
    return _external_ids[0](brand_id=brand_id, contact_refs=contact_refs)


@dataclass(frozen=True)
class BrandCatalogue:
    """What a connector's mapping may name: topic slug -> its channels, and purpose slugs."""

    topics: dict[str, list[str]]
    purposes: set[str]


class BrandCatalogueReader(Protocol):
    def __call__(self, *, brand_id: int) -> BrandCatalogue: ...


_catalogue: list[BrandCatalogueReader] = []


def brand_catalogue_reader_set(reader: BrandCatalogueReader) -> None:
    """Register the domain's reader (once per process, from preferences.apps)."""
    _catalogue[:] = [reader]


def brand_catalogue(*, brand_id: int) -> BrandCatalogue:
    if not _catalogue:
        raise RuntimeError("No brand catalogue reader is registered (preferences.apps registers it).")
    return _catalogue[0](brand_id=brand_id)


class ContactRefsReader(Protocol):
    def __call__(self, *, brand_id: int, after: int, up_to: int | None, limit: int) -> list[int]: ...


class ContactsExtentReader(Protocol):
    def __call__(self, *, brand_id: int) -> tuple[int, int]: ...


_refs: list[ContactRefsReader] = []
_extent: list[ContactsExtentReader] = []


def contact_refs_reader_set(reader: ContactRefsReader, extent: ContactsExtentReader) -> None:
    """Register the domain's readers (once per process, from preferences.apps)."""
    _refs[:] = [reader]
    _extent[:] = [extent]


def contacts_extent(*, brand_id: int) -> tuple[int, int]:
    """How many contacts the brand has, and the newest one's id (0 without any)."""
    if not _extent:
        raise RuntimeError("No contacts extent reader is registered (preferences.apps registers it).")
    return _extent[0](brand_id=brand_id)


def contact_refs(*, brand_id: int, after: int, up_to: int | None = None, limit: int) -> list[int]:
    """The brand's contacts' ids after `after` (and up to `up_to`), ascending, at most `limit`: how
    a backfill or the reconciler walks a brand's contacts."""
    if not _refs:
        raise RuntimeError("No contact refs reader is registered (preferences.apps registers it).")
    return _refs[0](brand_id=brand_id, after=after, up_to=up_to, limit=limit)


class AddressHoldersReader(Protocol):
    def __call__(
        self, *, brand_id: int, emails: Sequence[str], phones: Sequence[str]
    ) -> dict[str, list[int]]: ...


_holders: list[AddressHoldersReader] = []


def address_holders_reader_set(reader: AddressHoldersReader) -> None:
    """Register the domain's reader (once per process, from preferences.apps)."""
    _holders[:] = [reader]


def address_holders(*, brand_id: int, emails: Sequence[str], phones: Sequence[str]) -> dict[str, list[int]]:
    """Which of these addresses (emails lowercased, phones as given) a live contact of the brand
    gives now, each with those contacts' ids (ascending). A vendor keeps consent by address: one
    a contact left is turned off or deleted there only where no contact still gives it (another
    one, or the same one back again), and a record kept by address that one contact leaves is
    the record of those who still give it."""
    if not _holders:
        raise RuntimeError("No address holders reader is registered (preferences.apps registers it).")
    if not emails and not phones:
        return {}
    return _holders[0](brand_id=brand_id, emails=emails, phones=phones)


def addresses_held(*, brand_id: int, emails: Sequence[str], phones: Sequence[str]) -> set[str]:
    """Which of these addresses a live contact of the brand gives now (address_holders' keys)."""
    return set(address_holders(brand_id=brand_id, emails=emails, phones=phones))
