"""Thin Celery tasks for the ledger: each calls one service and is safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

from consent import services
from consent.checkpoints import checkpoints_create_all
from consent.retention import evidence_retention_purge

# Periodic tasks log a line when they did something, and nothing when idle (Celery's own
# per-run lines for them are filtered: config.logfilters.QuietPeriodicTasks).
logger = logging.getLogger(__name__)


@shared_task(name="consent.tasks.ledger_checkpoints")
def ledger_checkpoints() -> int:
    """Sign a checkpoint for every brand whose chain heads changed since its last one (beat,
    every LEDGER_CHECKPOINT_SECONDS). Returns how many were signed."""
    signed = checkpoints_create_all(only_if_changed=True)
    if signed:
        logger.info("ledger checkpoints signed: %d", signed)
    return signed


@shared_task(name="consent.tasks.evidence_retention_purge")
def evidence_retention_purge_task() -> int:
    """Purge personal evidence past each brand's retention (beat, every
    EVIDENCE_RETENTION_PURGE_SECONDS). One batch per brand and run."""
    purged = evidence_retention_purge()
    if purged:
        logger.info("evidence retention purge: %d contacts' evidence cleared", purged)
    return purged


@shared_task(name="consent.tasks.consents_expire")
def consents_expire() -> int:
    """Record grants past their expiry (beat, every CONSENTS_EXPIRE_SECONDS): `consent.expired`
    in the ledger, the feed and the webhooks. One batch per run; returns how many expired."""
    expired = services.consents_expire()
    if expired:
        logger.info("consents expired: %d", expired)
    return expired
