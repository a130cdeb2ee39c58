"""Re-encrypt every connector's credentials under the first key of CONNECTOR_KEYS."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from sync.delivery.connectors.crypto import ConnectorKeysMissing, CredentialsUnreadable
from sync.delivery.connectors.services import connector_keys_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every connector's credentials under the first CONNECTOR_KEYS key. Put the new "
        "key first (keeping the old one after it), run this, then drop the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = connector_keys_rotate()
        except (ConnectorKeysMissing, CredentialsUnreadable) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Re-encrypted the credentials of {count} connector(s) under the first key.")
