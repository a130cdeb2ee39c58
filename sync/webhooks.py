"""Where the webhook code lived before it moved to sync.delivery; new code imports from there.

Kept only for two callers outside this change (tests/sync/worker_support.py and bench/webhooks.py):
remove it once they import sync.delivery.
"""

from sync.delivery.bodies import delivery_of
from sync.delivery.endpoints import endpoint_create, endpoint_update
from sync.delivery.sweeper import deliveries_sweep

__all__ = ["deliveries_sweep", "delivery_of", "endpoint_create", "endpoint_update"]
