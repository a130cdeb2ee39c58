"""Handing delivery's Celery tasks to the broker.

The tasks (sync.tasks) call into delivery, so delivery cannot import them back: it publishes
them by name, from the Celery app's registry. Their names are the old dotted ones
(`sync.tasks.delivery_send`…), which queued messages and beat's schedule already carry;
sync.apps imports sync.tasks, so every process (web, worker, beat, tests) has them registered.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app

logger = logging.getLogger(__name__)


def publish(task_name: str, *args: Any, countdown: float | None = None) -> bool:
    """Hand the task sync.tasks.<task_name> to the broker; never raise (the sweeper catches up).
    Logs no arguments."""
    task = current_app.tasks[f"sync.tasks.{task_name}"]
    try:
        task.apply_async(args=args, countdown=countdown, retry=False)
    except Exception as exc:
        logger.warning("could not publish %s (%s); the sweeper will catch up", task_name, type(exc).__name__)
        return False
    return True


def publish_sends(ids: list[int]) -> None:
    for delivery_id in ids:
        publish("delivery_send", delivery_id)
