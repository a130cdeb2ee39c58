"""Thin Celery tasks for the ledger: each calls one service and is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from consent import services
from consent.checkpoints import checkpoints_create_all
from consent.retention import evidence_retention_purge


@shared_task(name="consent.tasks.ledger_checkpoints")
def ledger_checkpoints() -> int:
    """Sign a checkpoint for every brand whose chain heads changed since its last one (beat,
    every LEDGER_CHECKPOINT_SECONDS). Returns how many were signed."""
    return checkpoints_create_all(only_if_changed=True)


@shared_task(name="consent.tasks.evidence_retention_purge")
def evidence_retention_purge_task() -> int:
    """Purge personal evidence past each brand's retention (beat, every
    EVIDENCE_RETENTION_PURGE_SECONDS). One batch per brand and run."""
    return evidence_retention_purge()


@shared_task(name="consent.tasks.consents_expire")
def consents_expire() -> int:
    """Record grants past their expiry (beat, every CONSENTS_EXPIRE_SECONDS): `consent.expired`
    in the ledger, the feed and the webhooks. One batch per run; returns how many expired."""
    return services.consents_expire()
