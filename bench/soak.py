"""The soak: `make run`'s whole stack under steady mixed traffic, and every event delivered.

    .venv/bin/python -m bench.soak [--minutes 10] [--rate 8] [--port 8077]

Starts the launcher as `make run` does (embedded PostgreSQL and Valkey under var/, web, a
prefork worker, beat), registers a webhook endpoint at a local receiver that verifies each
signature with `standardwebhooks` and counts webhook-ids, then for `--minutes` sends a steady
mix at `--rate` requests per second: contacts created and changed, consents granted and
withdrawn, preferences changed, one-click unsubscribes POSTed as a mailbox provider does, and
reads. Afterwards it waits for the deliveries to drain and checks:

- no process of the launcher ended (a crash stops them all) and no traceback was printed;
- every event the changes feed holds since the endpoint was made reached the receiver, and
  nothing else did: after deduplication on webhook-id, each event exactly once;
- every one-click unsubscribe was applied (none left waiting).

The results go to var/soak.json; the exit status is 0 only if every check holds. Loopback only,
bounded in time. `make run` must not be running in this checkout (the soak owns var/).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks import Webhook

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


class Receiver(ThreadingHTTPServer):
    """Answers 204 to a POST whose signature verifies, 400 otherwise; counts webhook-ids."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Hook)
        self.secret = ""
        self.ids: Counter[str] = Counter()
        self.bad = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Hook(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            Webhook(self.server.secret).verify(body, dict(self.headers))
        except Exception:
            with self.server.lock:
                self.server.bad += 1
            self.send_response(400)
            self.end_headers()
            return
        with self.server.lock:
            self.server.ids[self.headers["webhook-id"]] += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class Launcher:
    """`make run`'s processes, their output kept (and scanned for tracebacks)."""

    def __init__(self, port: int) -> None:
        env = {
            **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}},
            "DEBUG": "true",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "WEBHOOK_ALLOW_PRIVATE": "true",
            "NO_COLOR": "1",
        }
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [PYTHON, "-m", "config.launcher", "--addr", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def problems(self) -> list[str]:
        return [
            line
            for line in self.lines
            if "Traceback" in line or "JSONDecodeError" in line or " exited with code " in line
        ]

    def stop(self) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait()


def _wait(check: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"soak: {what} did not happen within {timeout:g} s")
        time.sleep(0.5)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _feed_ids(api: httpx.Client, after: str) -> list[str]:
    ids, cursor = [], after
    while True:
        page = api.get("/events", params={"after": cursor, "limit": 1000}).json()
        ids += [f"msg_{event['id'].replace('-', '')}" for event in page["events"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return ids


def _manage(*args: str) -> str:
    """A manage.py command beside the launcher (it uses the launcher's servers); its output."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    return subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env={**env, "DEBUG": "true"},
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def _manage_shell(code: str) -> str:
    """What `code` prints last, run by manage.py shell."""
    return _manage("shell", "-c", code).strip().splitlines()[-1]


def _demo_key() -> str:
    return _manage("seed_demo").strip().splitlines()[-1]


def traffic(
    api: httpx.Client, site: httpx.Client, *, seconds: float, rate: float, counts: Counter[str]
) -> None:
    """A steady mix at `rate` requests a second, for `seconds`."""
    purposes = {p["slug"]: p["notice_version"]["id"] for p in api.get("/purposes").json()}
    rng = random.Random(7)
    contacts = [f"soak-{n}" for n in range(200)]
    for external_id in contacts:
        api.put(f"/contacts/{external_id}", json={"email": f"{external_id}@example.com"}).raise_for_status()
    interval = 1 / rate
    next_at = time.monotonic()
    end = next_at + seconds
    while time.monotonic() < end:
        contact = rng.choice(contacts)
        kind = rng.choices(
            ["grant", "withdraw", "preferences", "one_click", "read", "contact"], [3, 2, 2, 1, 2, 1]
        )[0]
        try:
            if kind == "grant":
                slug = rng.choice(list(purposes))
                response = api.post(
                    f"/contacts/{contact}/consents",
                    json={"purpose": slug, "decision": "granted", "notice_version": purposes[slug]},
                )
            elif kind == "withdraw":
                response = api.post(
                    f"/contacts/{contact}/consents",
                    json={"purpose": rng.choice(list(purposes)), "decision": "withdrawn"},
                )
            elif kind == "preferences":
                status = rng.choice(["subscribed", "unsubscribed"])
                row: dict[str, Any] = {"topic": "newsletter", "channel": "email", "status": status}
                if status == "subscribed":
                    row["notice_version"] = purposes["email-marketing"]
                response = api.patch(f"/contacts/{contact}/preferences", json={"subscriptions": [row]})
            elif kind == "one_click":
                headers = api.get(
                    f"/contacts/{contact}/unsubscribe-headers", params={"topic": "newsletter"}
                ).json()
                link = headers["List-Unsubscribe"].strip("<>")
                form = {"Content-Type": "application/x-www-form-urlencoded"}
                response = site.post(link, content=b"List-Unsubscribe=One-Click", headers=form)
            elif kind == "read":
                response = api.get(f"/contacts/{contact}/consents")
            else:
                response = api.put(f"/contacts/{contact}", json={"locale": rng.choice(["en", "de", "fr"])})
        except httpx.HTTPError as exc:  # the server went away: a failure, counted
            counts[f"{kind} {type(exc).__name__}"] += 1
        else:
            counts[f"{kind} {response.status_code}"] += 1
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="make run under steady mixed traffic")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=8.0, help="requests per second")
    parser.add_argument("--port", type=int, default=8077)
    args = parser.parse_args(argv)

    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    launcher = Launcher(args.port)
    base = f"http://127.0.0.1:{args.port}"
    results: dict[str, Any] = {"minutes": args.minutes, "rate": args.rate}
    try:
        _wait(lambda: _answers(f"{base}/readyz"), "make run answering /readyz", 180)
        key = _demo_key()
        api = httpx.Client(base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=30)
        site = httpx.Client(timeout=30)
        endpoint = api.post("/endpoints", json={"url": receiver.url}).json()
        receiver.secret = endpoint["secret"]
        start = api.get("/events", params={"limit": 1}).json()
        while start["has_more"]:  # the feed's end when the endpoint was made
            start = api.get("/events", params={"after": start["next_cursor"], "limit": 1000}).json()
        after = start["next_cursor"]

        counts: Counter[str] = Counter()
        started = time.monotonic()
        traffic(api, site, seconds=args.minutes * 60, rate=args.rate, counts=counts)
        results["requests"] = dict(sorted(counts.items()))
        results["traffic_seconds"] = round(time.monotonic() - started, 1)

        # Drain: the one-click requests applied, then every event of the feed at the receiver.
        time.sleep(6)  # beyond the one-click sweep
        expected = _feed_ids(api, after)
        _wait(lambda: set(expected) <= set(receiver.ids), "every event delivered", 120)
        time.sleep(3)  # anything extra would arrive now
        expected = _feed_ids(api, after)
        delivered = dict(receiver.ids)
        results |= {
            "events": len(expected),
            "delivered_distinct": len(delivered),
            "missing": sorted(set(expected) - set(delivered))[:20],
            "unexpected": sorted(set(delivered) - set(expected))[:20],
            "http_duplicates": sum(n - 1 for n in delivered.values()),
            "bad_signatures": receiver.bad,
            # 5xx answers and requests the server dropped
            "server_errors": sum(n for k, n in counts.items() if k.split()[-1][0] not in "1234"),
            "one_click_waiting": _manage_shell(
                "from preferences.models import PendingUnsubscribe; print(PendingUnsubscribe.objects.count())"
            ),
            "processes_alive": launcher.process.poll() is None,
            "problems": launcher.problems()[:20],
        }
    finally:
        results["launcher_exit"] = launcher.stop()
        receiver.shutdown()
    results["ok"] = bool(
        results.get("processes_alive")
        and not results.get("problems")
        and not results.get("missing")
        and not results.get("unexpected")
        and results.get("bad_signatures") == 0
        and results.get("server_errors") == 0
        and results.get("events", 0) > 0
        and results.get("one_click_waiting") == "0"
    )
    (ROOT / "var").mkdir(exist_ok=True)
    (ROOT / "var" / "soak.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
