"""Fixtures of the webhook tests (see webhook_support); none is used unless asked for."""

from tests.sync.webhook_support import published, receiver

__all__ = ["published", "receiver"]
