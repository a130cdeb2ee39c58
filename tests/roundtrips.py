"""Count the round trips a piece of code makes to PostgreSQL, everything included: BEGIN,
COMMIT, savepoints and statements Django does not log.

libpq traces every protocol message (PQtrace): the client's (F) and the server's (B). A round
trip is a run of client messages sent before the next server answer, so a pipeline that sends
several statements and then waits counts once."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection

_TRACE_SUPPRESS_TIMESTAMPS = 1  # PQTRACE_SUPPRESS_TIMESTAMPS


@dataclass
class RoundTrips:
    messages: list[str] = field(default_factory=list)  # F (client) and B (server), one a line

    @property
    def count(self) -> int:
        trips, previous = 0, "B"
        for line in self.messages:
            direction = line[:1]
            if direction == "F" and previous == "B":
                trips += 1
            previous = direction
        return trips

    def __repr__(self) -> str:
        sent = [line[:160] for line in self.messages if line.split("\t")[2:3] in (["Query"], ["Parse"])]
        return f"RoundTrips({self.count}):\n" + "\n".join(sent)


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
            counted.messages = [line.rstrip("\n") for line in trace if line[:2] in ("F\t", "B\t")]
