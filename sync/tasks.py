"""Thin Celery tasks for webhooks and the feed: each takes ids, calls one service and is safe to
run twice (at-least-once delivery of the messages themselves).

Their names are fixed (`sync.tasks.…`): beat's schedule and queued messages carry them, and
delivery publishes them by name (sync.delivery.broker)."""

from __future__ import annotations

import logging

from celery import shared_task

from sync.delivery import batches, fanout, opt_outs, sweeper
from sync.delivery.connectors import backfill, polling, reconcile
from sync.delivery.connectors.erasure_notices import erasure_notices_purge
from sync.delivery.connectors.inbound import signals_apply_pending
from sync.outbox import events

# Periodic tasks log a line when they did something, and nothing when idle (Celery's own
# per-run lines for them are filtered: config.logfilters.QuietPeriodicTasks).
logger = logging.getLogger(__name__)


@shared_task(name="sync.tasks.endpoint_fanout")
def endpoint_fanout(endpoint_id: int) -> int:
    """Turn the endpoint's new feed events into deliveries (nudged after each write)."""
    return fanout.endpoint_fanout(endpoint_id=endpoint_id)


@shared_task(name="sync.tasks.delivery_send")
def delivery_send(delivery_id: int) -> None:
    """One attempt at one delivery, if it is ready."""
    batches.delivery_send(delivery_id=delivery_id)


@shared_task(name="sync.tasks.deliveries_sweep")
def deliveries_sweep() -> dict[str, int]:
    """Beat, every few seconds: catch up on fan-outs and deliveries nobody is working on."""
    done = sweeper.deliveries_sweep()
    if any(done.values()):
        logger.info(
            "deliveries sweep: %d endpoint fan-outs, %d deliveries handed over",
            done["fanouts"],
            done["deliveries"],
        )
    return done


@shared_task(name="sync.tasks.inbound_signals_apply")
def inbound_signals_apply() -> int:
    """Apply vendors' accepted opt-outs (nudged after each vendor call, and swept by beat)."""
    applied = signals_apply_pending()
    if applied:
        logger.info("vendor opt-outs applied: %d", applied)
    return applied


@shared_task(name="sync.tasks.events_prune")
def events_prune() -> int:
    """Beat, hourly: forget feed events (and finished deliveries, and erasure notices never
    pushed) past their retention."""
    pruned = events.events_prune()
    deliveries = sweeper.deliveries_prune()
    erasure_notices_purge()
    if pruned or deliveries:
        logger.info("events prune: %d feed events and %d finished deliveries deleted", pruned, deliveries)
    return pruned


@shared_task(name="sync.tasks.connectors_poll")
def connectors_poll() -> dict[str, int]:
    """Beat: read the opt-outs made in polled vendors (Salesforce) since each one's watermark."""
    done = polling.connectors_poll()
    if done["signals"]:
        logger.info("connectors poll: %d signal(s) from %d connector(s)", done["signals"], done["connectors"])
    return done


@shared_task(name="sync.tasks.opt_outs_overdue_notify")
def opt_outs_overdue_notify() -> int:
    """Beat, hourly: email brands about endpoints with opt-outs unacknowledged for 15 business days."""
    told = opt_outs.opt_outs_overdue_notify()
    if told:
        logger.info("overdue opt-outs: %d endpoints reported to their brands", told)
    return told


@shared_task(name="sync.tasks.connector_backfill_chunk")
def connector_backfill_chunk(run_id: int) -> str:
    """Push the next contacts of a backfill for a while, then hand the rest to the next task."""
    return backfill.backfill_chunk(run_id=run_id)


@shared_task(name="sync.tasks.connector_reconcile_run")
def connector_reconcile_run(run_id: int) -> str:
    """Compare a connector's vendor with Candor and repair the drift (sync.delivery.connectors.reconcile)."""
    return reconcile.reconcile_run(run_id=run_id)


@shared_task(name="sync.tasks.connectors_reconcile")
def connectors_reconcile() -> int:
    """Beat, CONNECTOR_RECONCILE_EVERY (daily): a reconcile run for every active connector."""
    started = reconcile.connectors_reconcile()
    if started:
        logger.info("connectors reconcile: %d run(s) started", started)
    return started


@shared_task(name="sync.tasks.connector_runs_resume")
def connector_runs_resume() -> int:
    """Beat, every 30 s: hand backfill and reconcile runs whose worker died to another one."""
    resumed = backfill.backfills_resume() + reconcile.reconciles_resume()
    if resumed:
        logger.info("connector runs resumed: %d", resumed)
    return resumed
