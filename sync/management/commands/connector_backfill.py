"""Push every existing contact's current state to a connector's vendor, with a progress bar."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from brands.audit import Actor
from sync.delivery.connectors.backfill import BackfillRunning, backfill_chunk, backfill_eta, backfill_start
from sync.models import BackfillRun, Connector, ConnectorRun

WIDTH = 30


def progress_line(run: BackfillRun, *, now: datetime | None = None) -> str:
    """`[#####-----]  4,200/10,000  42%  failed 0  ETA 00:01:10`: tqdm's shape, without tqdm."""
    handled = run.done + run.failed
    share = handled / run.total if run.total else 1.0
    filled = int(WIDTH * share)
    eta = backfill_eta(run, now=now)
    left = "--:--:--"
    if eta is not None:
        seconds = max(int((eta - (now or timezone.now())).total_seconds()), 0)
        left = f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return (
        f"[{'#' * filled}{'-' * (WIDTH - filled)}] {handled:,}/{run.total:,} {share:4.0%} "
        f"failed {run.failed:,}  ETA {left}"
    )


class Command(BaseCommand):
    help = (
        "Push every existing contact's current state to the connector's vendor (batched, within its "
        "rate limits), or resume the backfill that is running; shows counts and an ETA. Runs in "
        "this process; a worker holding the run goes on and this command shows its progress."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("connector", help="The connector's public id (con_…)")

    def handle(self, *args: Any, **options: Any) -> None:
        connector = Connector.objects.filter(public_id=options["connector"]).first()
        if connector is None:
            raise CommandError(f"No connector {options['connector']!r}.")
        run = BackfillRun.objects.filter(connector=connector, status=ConnectorRun.RUNNING).first()
        if run is None:
            try:
                run = backfill_start(connector=connector, actor=Actor.command("connector_backfill"))
            except BackfillRunning:  # started meanwhile
                run = BackfillRun.objects.get(connector=connector, status=ConnectorRun.RUNNING)
            self.stdout.write(f"Backfill {run.public_id}: {run.total:,} contacts.")
        else:
            self.stdout.write(
                f"Resuming backfill {run.public_id} at {run.done + run.failed:,}/{run.total:,}."
            )
        tty = self.stdout.isatty()
        while True:
            outcome = backfill_chunk(run_id=run.pk, budget=1.0)
            run.refresh_from_db()
            line = progress_line(run)
            self.stdout.write(f"\r{line}" if tty else line, ending="" if tty else "\n")
            if run.status != ConnectorRun.RUNNING:
                break
            if outcome == "held":
                time.sleep(1)  # a worker has it: show its progress
        if tty:
            self.stdout.write("")
        if run.status == ConnectorRun.FAILED:
            raise CommandError(f"The backfill failed: {run.error}")
        self.stdout.write(f"Done: {run.done:,} pushed, {run.failed:,} rejected by the vendor.")
