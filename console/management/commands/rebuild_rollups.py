"""`manage.py rebuild_rollups [--brand SLUG]`: rebuild the console's dashboard rollups from the
ledger and the subscriptions, for repair (console.rollups.rollups_rebuild)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from brands.models import Brand
from console.rollups import rollups_rebuild


class Command(BaseCommand):
    help = "Rebuild the dashboard rollups of one brand (--brand) or of every brand."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--brand", help="The brand's slug; every brand when left out")

    def handle(self, *args: Any, **options: Any) -> None:
        brands = Brand.objects.order_by("slug")
        if options["brand"]:
            brands = brands.filter(slug=options["brand"])
            if not brands.exists():
                raise CommandError(f"No brand '{options['brand']}'.")
        for brand in brands:
            counted = rollups_rebuild(brand=brand)
            self.stdout.write(
                f"{brand.slug}: {counted['ledger_events']} consent changes and "
                f"{counted['subscriptions']} subscriptions counted."
            )
