"""Count the round trips a piece of code makes to PostgreSQL, everything included: BEGIN,
COMMIT, savepoints and statements Django does not log.

libpq traces the protocol messages the client sends (PQtrace); each round trip ends with one
simple `Query` or one extended-protocol `Sync` (a pipeline sends one Sync for all it batched)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection

_TRACE_SUPPRESS_TIMESTAMPS = 1  # PQTRACE_SUPPRESS_TIMESTAMPS


@dataclass
class RoundTrips:
    sent: list[str] = field(default_factory=list)  # the client's messages, one a line

    @property
    def count(self) -> int:
        return sum(1 for line in self.sent if line.split("\t")[2:3] in (["Query"], ["Sync"]))

    def __repr__(self) -> str:
        return f"RoundTrips({self.count}):\n" + "\n".join(line[:200] for line in self.sent)


@contextmanager
def round_trips() -> Iterator[RoundTrips]:
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    counted = RoundTrips()
    with tempfile.NamedTemporaryFile("w+", suffix=".trace") as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(_TRACE_SUPPRESS_TIMESTAMPS)
        try:
            yield counted
        finally:
            pgconn.untrace()
            trace.seek(0)
            counted.sent = [line.rstrip("\n") for line in trace if line.startswith("F\t")]
