"""Parts of the preference centre that apps above preferences add (quizzes: the answers under
"What you've told us").

Preferences cannot import those apps (they import preferences), so each registers a function
from its AppConfig.ready. The centre calls every one with what it read (`Centre`: the brand,
the contact, the page's language and the purposes with their notices) and renders the context
they return; each part reads what it needs in a fixed number of queries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from preferences.page_selectors import Centre

CentrePart = Callable[[Centre], Mapping[str, Any]]

_parts: list[CentrePart] = []


def centre_part_register(part: CentrePart) -> None:
    """Add `part` once (a second AppConfig.ready, as in tests, adds nothing)."""
    if part not in _parts:
        _parts.append(part)


def centre_parts_context(centre: Centre) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for part in _parts:
        context.update(part(centre))
    return context
