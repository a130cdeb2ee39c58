"""The adapter interface every vendor implements, and the registry of those built so far."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from sync.outbox.contact_state import ContactState


@dataclass
class Target:
    """What an adapter needs of a connector for one call: never the model itself, so nothing
    the worker holds can be saved back with decrypted credentials."""

    public_id: str
    base_url: str
    credentials: dict[str, Any]
    mapping: dict[str, Any]


@dataclass
class PushResult:
    """The outcome for one delivery. `permanent` failures are not retried (the vendor rejected
    the request itself; retrying would get the same answer)."""

    succeeded: bool
    status_code: int | None = None
    excerpt: str = ""
    error: str = ""
    retry_after: float | None = None
    permanent: bool = False


@dataclass
class Item:
    """One claimed delivery as an adapter sees it: the contact it is about (None for a brand
    event) and that contact's state now (None if the contact no longer exists)."""

    delivery_id: int
    type: str
    contact_ref: int | None
    state: ContactState | None


@dataclass
class AccountView:
    """What a test call found: whether the credentials work and what the account holds."""

    ok: bool
    detail: str
    lists: list[dict[str, str]] = field(default_factory=list)


class VendorError(Exception):
    """A vendor call that did not work (bad credentials, vendor down): its message is safe to show."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class Adapter(Protocol):
    vendor: str
    default_base_url: str
    # The most deliveries one batch hands over.
    max_batch: int

    def credentials_errors(self, credentials: Any) -> list[str]: ...

    def mapping_errors(
        self, mapping: Any, *, topics: dict[str, list[str]], purposes: set[str]
    ) -> dict[str, list[str]]: ...

    def mapping_lists(self, mapping: dict[str, Any]) -> set[str]:
        """The vendor-side ids the mapping names, checked against the account on save."""
        ...

    def account_view(self, target: Target, *, client: httpx.Client) -> AccountView: ...

    def push(self, target: Target, items: Sequence[Item], *, client: httpx.Client) -> list[PushResult]: ...


def redact(text: str, credentials: dict[str, Any]) -> str:
    """`text` with every credential value (and anything long enough to be one) blanked: for
    the delivery log, which keeps what the vendor answered."""
    for value in credentials.values():
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, "[redacted]")
    return text
