"""A webhook receiver for `make bench` that answers 200 at once (stdlib only, asyncio).

    python -m bench.receiver PORT

HTTP/1.1 with keep-alive: a connection stays open for as many requests as the client sends.
It records, for every POST, the time the whole request had arrived (time.time()) and its body,
and counts the TCP connections that carried at least one POST. Control requests (not counted):

- GET /_stats   {"posts", "connections", "connections_total"}
- GET /_log?from=K   the records from the K-th on: [[time, body], …]
- POST /_reset  forget every record and count

Any other request gets `200 ok` (GET included, so wrk can measure the receiver's own capacity).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class State:
    def __init__(self) -> None:
        self.records: list[tuple[float, str]] = []
        self.connections = 0  # connections that carried a POST since the last reset
        self.connections_total = 0  # every connection accepted, control ones included
        self.generation = 0  # bumped by a reset: a connection counts again afterwards


STATE = State()


def _reply(body: bytes, content_type: str = "application/json") -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


class Receiver(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""
        self.counted = -1  # the generation in which this connection was counted
        STATE.connections_total += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            method, _, rest = head.partition(" ")
            path = rest.split(" ", 1)[0]
            self.transport.write(self.handle(method, path, body))

    def handle(self, method: str, path: str, body: bytes) -> bytes:
        if path.startswith("/_"):
            if path == "/_stats":
                stats = {
                    "posts": len(STATE.records),
                    "connections": STATE.connections,
                    "connections_total": STATE.connections_total,
                }
                return _reply(json.dumps(stats).encode())
            if path.startswith("/_log"):
                start = int(path.partition("from=")[2] or 0)
                return _reply(json.dumps(STATE.records[start:]).encode())
            if path == "/_reset":
                STATE.records.clear()
                STATE.connections = 0
                STATE.generation += 1
                return OK
        if method == "POST":
            STATE.records.append((time.time(), body.decode("utf-8", errors="replace")))
            if self.counted != STATE.generation:
                self.counted = STATE.generation
                STATE.connections += 1
        return OK


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Receiver, "127.0.0.1", port, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
