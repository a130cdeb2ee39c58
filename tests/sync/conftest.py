"""Fixtures of the webhook tests (see webhook_support); none is used unless asked for."""

from typing import Any

import pytest

from tests.sync.webhook_support import published, receiver
from tests.sync.worker_support import DUPLICATE_REPORT

__all__ = ["published", "receiver"]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """What the worker fault tests saw: HTTP-level duplicates (allowed, at least once) and timings."""
    if DUPLICATE_REPORT:
        terminalreporter.section("webhook fault tests", sep="-")
        for line in DUPLICATE_REPORT:
            terminalreporter.write_line(line)
