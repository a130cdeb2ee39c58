#!/usr/bin/env python3
"""Closed-loop load on Candor's one-request sign-up, for the side-by-side runs against Fides.

Same command line, environment and output as ../shared/peers/candor/load.py, so side.sh can run
either; only `save` differs: one `POST /api/v1/contacts/{id}/signup` creates the contact and
records its decision (the same email, purpose and alternating granted/withdrawn as load.py's
PUT + POST pair) instead of two requests.

  peer_signup.py save [-c 16] [-d 20] --tag r1   one sign-up per op
  peer_signup.py read [-c 16] [-d 20]            GET /contacts/{id}/consents over saved ids
  peer_signup.py health [-c 16] [-d 20]          GET /healthz

Environment: CANDOR_BASE (default http://127.0.0.1:8090), CANDOR_KEY (an API key with
consent:write and consent:read), CANDOR_NV (the email-marketing notice version id); ROOT names
the folder of the saved ids (ids.txt; default <tmp>/candor-peer). Prints one JSON line: ops,
ops/s, HTTP requests/s, p50/p90/p99 ms and errors by kind. Every client stops at the deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from dataclasses import dataclass, field

import httpx


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["save", "read", "health"])
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    parser.add_argument("-d", "--duration", type=float, default=20.0)
    parser.add_argument("--base", default=os.environ.get("CANDOR_BASE", "http://127.0.0.1:8090"))
    parser.add_argument("--key", default=os.environ.get("CANDOR_KEY", ""))
    parser.add_argument("--nv", default=os.environ.get("CANDOR_NV", ""))
    parser.add_argument("--purpose", default="email-marketing")
    parser.add_argument("--tag", default=str(int(time.time())))
    root = os.environ.get("ROOT", os.path.join(tempfile.gettempdir(), "candor-peer"))
    parser.add_argument("--ids", default=os.path.join(root, "ids.txt"))
    return parser.parse_args()


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # seconds per successful op
    errors: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    saved: list[str] = field(default_factory=list)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def signup_body(args: argparse.Namespace, contact_id: str, serial: int) -> dict[str, object]:
    """load.py's pair in one body: the address, then a grant (odd ops) or a withdrawal (even)."""
    decision: dict[str, object] = {
        "purpose": args.purpose,
        "decision": "granted" if serial % 2 else "withdrawn",
    }
    if serial % 2:
        decision["notice_version"] = args.nv
    return {"contact": {"email": f"{contact_id}@example.com"}, "consents": [decision]}


async def one_op(
    client: httpx.AsyncClient,
    args: argparse.Namespace,
    tally: Tally,
    worker: int,
    serial: int,
    ids: list[str],
) -> bool:
    if args.mode == "health":
        response = await client.get("/healthz")
        tally.requests += 1
        if response.status_code != 200:
            tally.error(f"health {response.status_code}")
            return False
        return True
    if args.mode == "save":
        contact_id = f"s-{args.tag}-{worker}-{serial}"
        response = await client.post(
            f"/api/v1/contacts/{contact_id}/signup", json=signup_body(args, contact_id, serial)
        )
        tally.requests += 1
        if response.status_code not in (200, 201) or len(response.json().get("events", ())) != 1:
            tally.error(f"signup {response.status_code}")
            return False
        tally.saved.append(contact_id)
        return True
    contact_id = random.choice(ids)
    response = await client.get(f"/api/v1/contacts/{contact_id}/consents")
    tally.requests += 1
    if response.status_code != 200 or not response.json().get("consents"):
        tally.error(f"read {response.status_code}")
        return False
    return True


async def worker(
    args: argparse.Namespace, tally: Tally, number: int, deadline: float, ids: list[str]
) -> None:
    headers = {"Authorization": f"Bearer {args.key}"}
    serial = 0
    async with httpx.AsyncClient(base_url=args.base, timeout=30.0, headers=headers) as client:
        while time.perf_counter() < deadline:
            serial += 1
            started = time.perf_counter()
            try:
                ok = await one_op(client, args, tally, number, serial, ids)
            except Exception as exc:  # a load client counts failures, it does not stop
                tally.error(type(exc).__name__)
                continue
            if ok:
                tally.latencies.append(time.perf_counter() - started)


async def main() -> None:
    args = arguments()
    ids: list[str] = []
    if args.mode == "read":
        with open(args.ids) as saved:
            ids = [line.strip() for line in saved if line.strip()]
        if not ids:
            raise SystemExit("read needs saved ids: run save first")
    tally = Tally()
    started = time.perf_counter()
    deadline = started + args.duration
    await asyncio.gather(*(worker(args, tally, number, deadline, ids) for number in range(args.concurrency)))
    elapsed = time.perf_counter() - started
    if tally.saved:
        os.makedirs(os.path.dirname(args.ids) or ".", exist_ok=True)
        with open(args.ids, "a") as saved:
            saved.write("\n".join(tally.saved) + "\n")
    cuts = statistics.quantiles(tally.latencies, n=100) if len(tally.latencies) > 1 else [float("nan")] * 99
    print(
        json.dumps(
            {
                "target": "candor",
                "mode": args.mode,
                "c": args.concurrency,
                "elapsed_s": round(elapsed, 2),
                "ok_ops": len(tally.latencies),
                "ops_per_s": round(len(tally.latencies) / elapsed, 1),
                "http_req_per_s": round(tally.requests / elapsed, 1),
                "p50_ms": round(cuts[49] * 1e3, 1),
                "p90_ms": round(cuts[89] * 1e3, 1),
                "p99_ms": round(cuts[98] * 1e3, 1),
                "errors": tally.errors,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
