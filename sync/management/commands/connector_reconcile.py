"""Compare a connector's vendor with Candor and repair the drift, printing the report."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from brands.audit import Actor
from sync.delivery.connectors.reconcile import ReconcileRunning, reconcile_run, reconcile_start
from sync.models import Connector, ConnectorRun, ReconcileRun


class Command(BaseCommand):
    help = (
        "Reconcile a connector now, in this process: per contact and vendor slot, compare and repair "
        "by one rule (opt-out wins); prints drift and repairs by kind."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("connector", help="The connector's public id (con_…)")

    def handle(self, *args: Any, **options: Any) -> None:
        connector = Connector.objects.filter(public_id=options["connector"]).first()
        if connector is None:
            raise CommandError(f"No connector {options['connector']!r}.")
        run = ReconcileRun.objects.filter(connector=connector, status=ConnectorRun.RUNNING).first()
        if run is None:
            try:
                run = reconcile_start(
                    connector=connector, trigger="command", actor=Actor.command("connector_reconcile")
                )
            except ReconcileRunning as exc:
                raise CommandError(str(exc)) from exc
        outcome = reconcile_run(run_id=run.pk)
        run.refresh_from_db()
        if outcome == "held":
            raise CommandError(f"Run {run.public_id} is held by a worker; see GET …/reconcile.")
        report = {"drift": run.drift, "repaired": run.repaired, "contacts": run.contacts}
        self.stdout.write(f"{run.public_id} {run.status}: {json.dumps(report, sort_keys=True)}")
        if run.status == ConnectorRun.FAILED:
            raise CommandError(f"The reconcile failed: {run.error}")
