"""What the test run logs, scanned for secrets and personal data (issue 10, Security 4).

A handler on every logger that writes (the root, and those that do not propagate) formats each
record with the project's console formatter, as it would reach stdout, and keeps the lines that
carry a link token, a full API key, an email address or a phone number. tests/conftest.py fails
the run when any was found. The patterns are independent of config.logfilters' redaction.
"""

from __future__ import annotations

import logging
import re

LEAKS = {
    "link token in a path": re.compile(r"/p/[^/\s\"']+/[tuc]/(?!\[token )[^/\s\"'?#]{8,}"),
    "signed token": re.compile(r"W[A-Za-z0-9_-]{3,}\.[0-9A-Za-z]{1,13}\.[A-Za-z0-9_-]{40,}"),
    "API key": re.compile(r"cnd_[A-Za-z0-9]+_[A-Za-z0-9_-]{16,}"),
    "email address": re.compile(r"[\w.+-]+(?:@|%40)[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}"),
    "phone number": re.compile(r"(?:\+|%2B)[1-9]\d{6,14}"),
}


class LeakRecorder(logging.Handler):
    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(level=logging.NOTSET)
        self.setFormatter(formatter)
        self.lines = 0
        self.leaks: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a record that cannot be formatted writes nothing either
            return
        self.lines += 1
        for name, pattern in LEAKS.items():
            if pattern.search(line):
                self.leaks.append((name, line[:500]))


def leak_recorder_install() -> LeakRecorder:
    """Attach the recorder to the root and to every logger that does not propagate to it."""
    root = logging.getLogger()
    console = next((h for h in root.handlers if h.formatter is not None), None)
    recorder = LeakRecorder(console.formatter if console and console.formatter else logging.Formatter())
    root.addHandler(recorder)
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and not logger.propagate and logger.handlers:
            logger.addHandler(recorder)
    return recorder
