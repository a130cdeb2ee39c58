from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from brands.models import Brand
from consent.verification import ledger_verify


class Command(BaseCommand):
    help = "Recompute every consent chain and the projection; exit non-zero naming the first bad event."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--brand", help="Only this brand's ledger (slug)")

    def handle(self, *args: Any, **options: Any) -> None:
        brand = None
        if options["brand"]:
            brand = Brand.objects.filter(slug=options["brand"]).first()
            if brand is None:
                raise CommandError(f"No brand '{options['brand']}'.")
        report = ledger_verify(brand=brand)
        if not report.ok:
            raise CommandError(f"Ledger verification failed: {report.problems[0]}")
        self.stdout.write(f"OK: {report.events} events in {report.contacts} contacts verify.")
