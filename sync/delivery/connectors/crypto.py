"""Connector credentials at rest: Fernet tokens under the keys of CONNECTOR_KEYS (MultiFernet:
the first key encrypts, every key decrypts, so a new key is put first, the rows re-encrypted
with `manage.py rotate_connector_keys`, and the old key then dropped).

Without CONNECTOR_KEYS a key derived from SECRET_KEY stands in, but only in a process started
with DEBUG true (CONNECTOR_DERIVED_KEY: development, tests): in production a derived key would
tie the credentials to SECRET_KEY's own rotation and hide a missing setting, so there it is
refused (ConnectorKeysMissing).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from config.errors import Conflict


class ConnectorKeysMissing(Conflict):
    code = "connector-keys-missing"
    title = "Connectors are not configured"

    def __init__(self) -> None:
        super().__init__("This server has no CONNECTOR_KEYS: connectors cannot be created or used.")


class CredentialsUnreadable(Exception):
    """A row encrypted under a key no longer in CONNECTOR_KEYS."""


def _keys() -> list[bytes]:
    keys = [key.encode() for key in settings.CONNECTOR_KEYS]
    if keys:
        return keys
    if not settings.CONNECTOR_DERIVED_KEY:
        raise ConnectorKeysMissing()
    digest = hashlib.sha256(b"candor-connector-credentials\x00" + settings.SECRET_KEY.encode()).digest()
    return [base64.urlsafe_b64encode(digest)]


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in _keys()])


def credentials_encrypt(credentials: dict[str, Any]) -> str:
    return _fernet().encrypt(json.dumps(credentials, sort_keys=True).encode()).decode()


def credentials_decrypt(token: str) -> dict[str, Any]:
    try:
        value = json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise CredentialsUnreadable(
            "The credentials were encrypted under a key not in CONNECTOR_KEYS."
        ) from exc
    if not isinstance(value, dict):
        raise CredentialsUnreadable("The stored credentials are not an object.")
    return value


def credentials_reencrypt(token: str) -> str:
    """The same credentials under the first key (MultiFernet.rotate keeps the token's time)."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise CredentialsUnreadable(
            "The credentials were encrypted under a key not in CONNECTOR_KEYS."
        ) from exc
