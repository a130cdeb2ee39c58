"""Parts of the preference centre that apps above preferences add (quizzes: the answers under
"What you've told us").

Preferences cannot import those apps (they import preferences), so each registers a part from
its AppConfig.ready. A part is one more column of the statement that reads the contact's rows
for the centre (preferences.statements: a JSON value about the contact, named there as `c`), so
the centre still reads everything in one round trip; and a function that turns that value, with
the `Centre` (brand, contact, language, purposes), into the template's context.

This module imports nothing of preferences: preferences.statements reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CentrePart:
    # The column's SQL and its parameters; it may name the contact's row as `c`.
    column: Callable[[], tuple[str, list[Any]]]
    # (the preferences.page_selectors.Centre, the column's decoded value) → template context.
    context: Callable[[Any, Any], Mapping[str, Any]]


_parts: list[CentrePart] = []


def centre_part_register(part: CentrePart) -> None:
    """Add `part` once (a second AppConfig.ready, as in tests, adds nothing)."""
    if part not in _parts:
        _parts.append(part)


def centre_parts_columns() -> tuple[list[str], list[Any]]:
    """The registered parts' columns (SQL) and their parameters, in order."""
    columns, params = [], []
    for part in _parts:
        sql, part_params = part.column()
        columns.append(sql)
        params += part_params
    return columns, params


def centre_parts_context(centre: Any, values: Sequence[Any]) -> dict[str, Any]:
    """The context of every part, from the values its columns read (`CentreRows.parts`)."""
    context: dict[str, Any] = {}
    for part, value in zip(_parts, values, strict=False):
        context.update(part.context(centre, value))
    return context
