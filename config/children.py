"""What the checkout's own process owners share (config.launcher, config.embedded_postgres,
config.embedded_valkey): children that die with their owner, and locks with a timeout."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import sys
import time
from typing import IO

_PR_SET_PDEATHSIG = 1


def die_with(owner_pid: int) -> None:
    """In a child before exec (Linux): SIGINT when its owner dies, however it dies, so a
    `kill -9` of the owner leaves no server behind. Runs after any switch of user, which would
    clear it."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGINT)
    if os.getppid() != owner_pid:  # the owner died before prctl took effect
        os._exit(1)


def flock(handle: IO[str], mode: int, timeout: float) -> bool:
    """Take the lock (fcntl.LOCK_EX or LOCK_SH) within `timeout` seconds; False if not."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
