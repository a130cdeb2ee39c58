from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from brands.models import Brand
from consent.checkpoints import checkpoint_create


class Command(BaseCommand):
    help = "Sign a ledger checkpoint (the Merkle root of every chain head) now, for one brand or all."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--brand", help="Only this brand (slug)")

    def handle(self, *args: Any, **options: Any) -> None:
        brands = Brand.objects.order_by("pk")
        if options["brand"]:
            brands = brands.filter(slug=options["brand"])
            if not brands.exists():
                raise CommandError(f"No brand '{options['brand']}'.")
        for brand in brands:
            checkpoint = checkpoint_create(brand=brand)
            assert checkpoint is not None  # only_if_changed is off: always signed
            self.stdout.write(
                f"{brand.slug}: checkpoint {checkpoint.number}, {checkpoint.tree_size} chains, "
                f"root {checkpoint.root_hash}"
            )
