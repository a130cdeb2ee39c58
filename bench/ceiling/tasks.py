"""The Celery ceiling: the least a task can do on this worker, with this broker.

`make bench` enqueues N of these and starts one worker (`--pool=solo`); each records its
completion time in Redis (one pipelined round trip), so the harness reads the worker's rate
from the first completion to the last, as it does for webhook deliveries.
"""

from __future__ import annotations

import time
from typing import Any

from celery import shared_task
from django.conf import settings

_redis: Any = None

NOOP_TIMES_KEY = "bench:noop:done"


@shared_task(name="bench.ceiling.tasks.noop")
def noop() -> None:
    global _redis
    if _redis is None:
        import redis

        _redis = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    _redis.rpush(NOOP_TIMES_KEY, repr(time.time()))
