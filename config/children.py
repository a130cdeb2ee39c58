"""What the checkout's own process owners share (config.launcher, config.embedded_postgres,
config.embedded_valkey): children that die with their owner, and locks with a timeout."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import json
import os
import signal
import sys
import time
from pathlib import Path
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


# --- Who owns a server folder, for messages ----------------------------------------------------


def owner_note(root: Path) -> None:
    """Note in `root` that this process owns the server there."""
    command = " ".join(Path(arg).name for arg in sys.argv[:3])
    (root / "owner.json").write_text(json.dumps({"pid": os.getpid(), "command": command}))


def owner_forget(root: Path) -> None:
    with contextlib.suppress(OSError):
        (root / "owner.json").unlink()


def owner_of(root: Path) -> str:
    """Who owns the server in `root`, as a message names it."""
    try:
        found = json.loads((root / "owner.json").read_text())
        return f"pid {found['pid']} ({found['command']})"
    except (OSError, ValueError, KeyError):
        return "another process"


# Unix socket paths: about 104 bytes (macOS) to 108 (Linux).
_SOCKET_PATH_MAX = 100


def socket_folder(root: Path, name: str, *, longest: str) -> Path:
    """`root` if a socket named `longest` fits in it, else a short folder in /tmp named after
    `root` (checkouts in deep folders)."""
    if len(str(root / longest)) <= _SOCKET_PATH_MAX:
        return root
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    return Path("/tmp") / f"candor-{name}-{digest}"  # noqa: S108 - a folder of ours, mode 0700
