"""Rendered console pages, kept in each process's memory under a key that names everything
they show, so a key never finds an out-of-date page and nothing needs forgetting.

Only for pages such a key can name: the audit log's (brands.models.AuditLog counts the entries,
which never change, so the count names the log's state; console.pages.render_kept adds the
address, the language, and the person with their brands and roles). The most recently used
`CONSOLE_KEPT_PAGES` are kept. Never kept: the access check, which runs first on every request,
the CSRF field, put in for each request, and a page with a message to show."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from django.conf import settings

T = TypeVar("T")

_kept: OrderedDict[Hashable, object] = OrderedDict()
_lock = threading.Lock()


def kept(key: Hashable, make: Callable[[], T]) -> T:
    """The part kept under `key`, else `make()`'s, kept from now on."""
    with _lock:
        if key in _kept:
            _kept.move_to_end(key)
            return _kept[key]  # type: ignore[return-value]
    made = make()
    limit = settings.CONSOLE_KEPT_PAGES
    if limit > 0:
        with _lock:
            _kept[key] = made
            _kept.move_to_end(key)
            while len(_kept) > limit:
                _kept.popitem(last=False)
    return made


def kept_forget() -> None:
    with _lock:
        _kept.clear()
