"""Fixtures every connector test module may use."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet


@pytest.fixture
def connector_key(settings: Any) -> str:
    """One key for this process and the worker, so each reads what the other encrypted."""
    key = Fernet.generate_key().decode()
    settings.CONNECTOR_KEYS = [key]
    return key
