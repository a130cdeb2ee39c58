"""Small template helpers for the hosted pages."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def lookup(mapping: Any, key: Any) -> Any:
    """`mapping|lookup:key`: the value under a computed key, or None."""
    if not mapping:
        return None
    try:
        return mapping.get(key)
    except AttributeError:
        return None
