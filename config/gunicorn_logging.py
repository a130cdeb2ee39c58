"""gunicorn's logger with every access and error line redacted (named by gunicorn.conf.py)."""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.glogging import Logger

from config.logfilters import RedactingFormatter


class RedactingLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        # gunicorn sets its own handlers and formats (the access format is a setting); each
        # line they write is redacted after formatting, whatever the format names.
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if not isinstance(handler.formatter, RedactingFormatter):
                    handler.setFormatter(RedactingFormatter(inner=handler.formatter or logging.Formatter()))
