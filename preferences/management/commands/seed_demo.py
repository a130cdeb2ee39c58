from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from preferences.demo import seed_demo


class Command(BaseCommand):
    help = "Create or complete the demo brand 'demo' (idempotent) and print its API key."

    def handle(self, *args: Any, **options: Any) -> None:
        brand, raw_key = seed_demo()
        base = settings.PUBLIC_BASE_URL
        self.stdout.write(f"Demo brand '{brand.slug}' is ready at {base}")
        self.stdout.write(f"  API docs:  {base}/api/docs/")
        self.stdout.write(f"  Try:       curl -H 'Authorization: Bearer {raw_key}' {base}/api/v1/purposes")
        self.stdout.write("Demo API key (admin scope):")
        self.stdout.write(raw_key)
