from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from brands.models import Brand
from consent.checkpoints import CheckpointInvalid, checkpoint_tokens_from_file
from consent.verification import ledger_verify


class Command(BaseCommand):
    help = (
        "Recompute every consent chain and the projection and hold them to the signed checkpoints; "
        "exit non-zero naming the first bad event."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--brand", help="Only this brand's ledger (slug)")
        parser.add_argument(
            "--checkpoint",
            action="append",
            default=[],
            metavar="FILE",
            help="A checkpoint the brand kept (the API's document, a ledger.checkpoint webhook or "
            "feed event, a compact JWS, or a JSON list of them); may be repeated",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        brand = None
        if options["brand"]:
            brand = Brand.objects.filter(slug=options["brand"]).first()
            if brand is None:
                raise CommandError(f"No brand '{options['brand']}'.")
        tokens: list[str] = []
        for name in options["checkpoint"]:
            try:
                tokens += checkpoint_tokens_from_file(Path(name).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"Cannot read checkpoint file {name}: {exc.__class__.__name__}") from None
            except CheckpointInvalid as exc:
                raise CommandError(f"Checkpoint file {name}: {exc}") from None
        report = ledger_verify(brand=brand, checkpoint_tokens=tokens)
        if not report.ok:
            raise CommandError(f"Ledger verification failed: {report.problems[0]}")
        self.stdout.write(f"OK: {report.events} events in {report.contacts} contacts verify.")
