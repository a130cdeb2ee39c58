"""A request body without Content-Length (chunked transfer coding) is read within the body limit
or refused; it is never taken as empty. Through granian, the production server (deploy/Procfile),
and gunicorn, the other server make bench measures, since Django's test client always sends a
Content-Length."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from brands.models import Scope
from brands.services import api_key_create, brand_create
from consent.models import Contact
from tests.actors import TEST_ACTOR
from tests.sync.worker_support import free_port, worker_database_url

BASE_DIR = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.django_db(transaction=True)


SERVER_COMMANDS = {
    "granian": ["granian", "--interface", "wsgi", "config.wsgi:application", "--host", "127.0.0.1"],
    "gunicorn": ["gunicorn", "config.wsgi"],
}


def _command(server: str, port: int) -> list[str]:
    bindir = Path(sys.executable).parent
    program, *args = SERVER_COMMANDS[server]
    if server == "granian":
        return [str(bindir / program), *args, "--port", str(port), "--workers", "1"]
    return [str(bindir / program), *args, "--bind", f"127.0.0.1:{port}", "--workers", "1"]


@pytest.fixture(params=sorted(SERVER_COMMANDS))
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[int]:
    """The WSGI server serving config.wsgi on the test database, one worker, on a free port."""
    port = free_port()
    log = tmp_path / "server.log"
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": worker_database_url(),
        "CELERY_BROKER_URL": str(settings.CELERY_BROKER_URL),
        "API_MAX_BODY_BYTES": "2048",
        "PYTHONPATH": str(BASE_DIR),
    }
    command = _command(request.param, port)
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 - a fixed command line
            command, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _, _ = exchange(
                    port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                )
                if status == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{request.param} did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield port
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the answer to the end (Connection: close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(request)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = dechunk(body)
    return int(lines[0].split()[1]), headers, body


def dechunk(data: bytes) -> bytes:
    out = b""
    while True:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return out
        out, data = out + rest[:size], rest[size + 2 :]


def chunked_put(
    port: int, key: str, path: str, body: bytes, chunk: int = 100
) -> tuple[int, dict[str, str], Any]:
    framed = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + chunk]), body[i : i + chunk]) for i in range(0, len(body), chunk)
    )
    request = (
        (
            f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        ).encode()
        + framed
        + b"0\r\n\r\n"
    )
    status, headers, raw = exchange(port, request)
    return status, headers, json.loads(raw) if raw else None


@pytest.fixture
def key() -> str:
    brand, _ = brand_create(actor=TEST_ACTOR, slug="acme", name="Acme")
    return api_key_create(
        actor=TEST_ACTOR, brand=brand, scopes=[str(Scope.CONSENT_WRITE), str(Scope.CONSENT_READ)]
    ).raw_key


def test_a_chunked_body_is_read(server: int, key: str):
    status, headers, body = chunked_put(
        server, key, "/api/v1/contacts/cust-9", b'{"locale": "de", "jurisdiction": "DE"}', chunk=7
    )
    assert status == 201, body
    assert (body["locale"], body["jurisdiction"]) == ("de", "DE")
    assert headers["cache-control"] == "no-store"
    assert list(Contact.objects.values_list("external_id", "locale", "jurisdiction")) == [
        ("cust-9", "de", "DE")
    ]


def test_a_chunked_body_past_the_limit_is_413_and_writes_nothing(server: int, key: str):
    padding = " " * 3000
    status, headers, body = chunked_put(
        server, key, "/api/v1/contacts/cust-9", f'{{"locale": "de"{padding}}}'.encode()
    )
    assert status == 413
    assert headers["content-type"] == "application/problem+json"
    assert body == {
        "type": "urn:candor:problem:payload-too-large",
        "title": "Payload too large",
        "status": 413,
        "detail": "The request body must be at most 2048 bytes.",
    }
    assert not Contact.objects.exists()


def test_a_chunked_body_the_server_cannot_end_is_411(client: Any, key: str):
    """Django's runserver and wsgiref hand over no end of a chunked body: refused, never read
    as empty. (Django's test client is such a server.)"""
    response = client.generic(
        "PUT",
        "/api/v1/contacts/cust-9",
        data=b"",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        HTTP_TRANSFER_ENCODING="chunked",
        CONTENT_LENGTH="",
    )
    assert response.status_code == 411
    assert response.json() == {
        "type": "urn:candor:problem:length-required",
        "title": "Length required",
        "status": 411,
        "detail": "This server cannot read a chunked body: send a Content-Length header.",
    }
    assert not Contact.objects.exists()
