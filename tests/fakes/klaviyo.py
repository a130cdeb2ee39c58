"""A local fake of Klaviyo's REST API: the endpoints the connector uses, as Klaviyo documents them.

Sources (read, not copied): Klaviyo's published OpenAPI description, github.com/klaviyo/openapi,
openapi/stable/apis/bulk_subscribe_profiles.json, bulk_unsubscribe_profiles.json, get_lists.json
(revision 2026-07-15), and the API reference at developers.klaviyo.com/en/reference/
(api_overview: authentication, the revision header, JSON:API errors, rate limits).

- `Authorization: Klaviyo-API-Key <key>`: missing or malformed is 401 `not_authenticated`, an
  unknown key 403 `permission_denied`; the `revision` header is required (400 otherwise);
  errors are `{"errors": [{"id", "status", "code", "title", "detail", "source"}]}`.
- `GET /api/lists`: 10 a page at most (`page[size]` 1 to 10), `links.next` with `page[cursor]`.
- `POST /api/profile-subscription-bulk-create-jobs`: the JSON:API type, at most 1000 profiles,
  `subscriptions` required, consent `SUBSCRIBED`, `consented_at` only with `historical_import`
  true, an email for the email channel and an E.164 phone for SMS, a list that exists; 202.
- `POST /api/profile-subscription-bulk-delete-jobs`: at most 100 profiles, consent
  `UNSUBSCRIBED`; a profile not in the given list is unsubscribed globally (Klaviyo's warning).
- Rate limits: steady and burst windows per key (75/s, 750/min by default; smaller ones can be
  set), then 429 with Retry-After; `throttle(n)` answers the next n job calls 429 whatever the
  window; `latency` adds seconds to every call.

State: per (list, channel) the profiles subscribed, and per profile and channel the consent.
A profile is known by its email or phone (Klaviyo merges on either; one identifier each here).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response
from werkzeug.serving import make_server

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
JSON_API = "application/vnd.api+json"


class Refusal(Exception):
    def __init__(self, status: int, code: str, title: str, detail: str, pointer: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.title, self.detail, self.pointer = status, code, title, detail, pointer


@dataclass
class FakeKlaviyo:
    api_keys: set[str] = field(default_factory=lambda: {"pk_test_0123456789abcdef"})
    lists: dict[str, str] = field(default_factory=lambda: {"LstNews": "Newsletter", "LstSms": "SMS club"})
    burst_per_second: int = 75
    steady_per_minute: int = 750
    latency: float = 0.0
    # (list id, channel) -> identifiers subscribed on it; (identifier, channel) -> consent.
    members: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    consent: dict[tuple[str, str], str] = field(default_factory=dict)
    consented_at: dict[tuple[str, str], str] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    jobs_accepted: int = 0
    _throttle: int = 0
    _calls: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: Any = None

    # --- running -------------------------------------------------------------------------------

    def start(self) -> str:
        self._server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()

    def throttle(self, calls: int) -> None:
        """Answer the next `calls` job requests 429 (a storm), whatever the windows say."""
        with self._lock:
            self._throttle = calls

    def subscribed(self, list_id: str, channel: str = "email") -> set[str]:
        with self._lock:
            return set(self.members.get((list_id, channel), set()))

    # --- the API -------------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if self.latency:
            time.sleep(self.latency)
        try:
            response = self._handle(request)
        except Refusal as refusal:
            response = self._error(refusal)
        return response(environ, start_response)

    def _error(self, refusal: Refusal) -> Response:
        error: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "status": refusal.status,
            "code": refusal.code,
            "title": refusal.title,
            "detail": refusal.detail,
            "source": {"pointer": refusal.pointer} if refusal.pointer else {},
        }
        headers = {"Retry-After": "1"} if refusal.status == 429 else {}
        return Response(
            json.dumps({"errors": [error]}), status=refusal.status, headers=headers, content_type=JSON_API
        )

    def _authenticate(self, request: Request) -> str:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Klaviyo-API-Key "):
            raise Refusal(
                401,
                "not_authenticated",
                "Authentication credentials were not provided.",
                "Missing or invalid authorization scheme. Please use Klaviyo-API-Key.",
            )
        key = header.removeprefix("Klaviyo-API-Key ").strip()
        if key not in self.api_keys:
            raise Refusal(
                403,
                "permission_denied",
                "You do not have permission to perform this action.",
                "The API key is not valid for this account.",
            )
        if not request.headers.get("revision"):
            raise Refusal(
                400, "invalid", "Invalid input.", "The revision header is required.", "/header/revision"
            )
        return key

    def _rate(self, job: bool) -> None:
        now = time.monotonic()
        with self._lock:
            if job and self._throttle > 0:
                self._throttle -= 1
                raise Refusal(
                    429,
                    "throttled",
                    "Request was throttled.",
                    "Request was throttled. Expected available in 1 second.",
                )
            while self._calls and self._calls[0] < now - 60:
                self._calls.popleft()
            last_second = sum(1 for at in self._calls if at >= now - 1)
            if last_second >= self.burst_per_second or len(self._calls) >= self.steady_per_minute:
                raise Refusal(
                    429,
                    "throttled",
                    "Request was throttled.",
                    "Request was throttled. Expected available in 1 second.",
                )
            self._calls.append(now)

    def _handle(self, request: Request) -> Response:
        self._authenticate(request)
        path = request.path.rstrip("/")
        if request.method == "GET" and path == "/api/lists":
            self._rate(job=False)
            return self._lists(request)
        jobs = {
            "/api/profile-subscription-bulk-create-jobs": "profile-subscription-bulk-create-job",
            "/api/profile-subscription-bulk-delete-jobs": "profile-subscription-bulk-delete-job",
        }
        if request.method == "POST" and path in jobs:
            self._rate(job=True)
            if request.mimetype not in (JSON_API, "application/json"):
                raise Refusal(
                    415, "unsupported_media_type", "Unsupported media type.", "Send application/vnd.api+json."
                )
            try:
                body = json.loads(request.get_data(as_text=True))
            except ValueError as exc:
                raise Refusal(400, "parse_error", "Malformed request.", "The body is not JSON.") from exc
            plan = self._job_plan(body, jobs[path])
            with self._lock:
                self.requests.append({"path": path, "body": body})
                self._apply(plan, subscribe=path.endswith("create-jobs"))
                self.jobs_accepted += 1
            return Response(b"", status=202)
        raise Refusal(404, "not_found", "Not found.", f"No route {request.method} {request.path}.")

    def _lists(self, request: Request) -> Response:
        size_raw = request.args.get("page[size]", "10")
        if not size_raw.isdigit() or not 1 <= int(size_raw) <= 10:
            raise Refusal(
                400, "invalid", "Invalid input.", "page[size] must be from 1 to 10.", "/parameter/page[size]"
            )
        size, cursor = int(size_raw), request.args.get("page[cursor]", "0")
        start = int(cursor) if cursor.isdigit() else 0
        ids = sorted(self.lists)
        page = ids[start : start + size]
        base = request.host_url.rstrip("/") + "/api/lists"
        links: dict[str, Any] = {"self": base}
        if start + size < len(ids):
            links["next"] = f"{base}?page%5Bcursor%5D={start + size}"
        data = [
            {
                "type": "list",
                "id": i,
                "attributes": {"name": self.lists[i], "opt_in_process": "single_opt_in"},
            }
            for i in page
        ]
        return Response(json.dumps({"data": data, "links": links}), status=200, content_type=JSON_API)

    def _job_plan(self, body: Any, kind: str) -> tuple[str, list[tuple[str, str, str | None]]]:
        """Validate as Klaviyo does; (list id, [(identifier, channel, consented_at)])."""
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or data.get("type") != kind:
            raise Refusal(400, "invalid", "Invalid input.", f"data.type must be {kind}.", "/data/type")
        attributes = data.get("attributes")
        profiles = (attributes or {}).get("profiles") if isinstance(attributes, dict) else None
        rows = profiles.get("data") if isinstance(profiles, dict) else None
        if not isinstance(rows, list) or not rows:
            raise Refusal(
                400,
                "invalid",
                "Invalid input.",
                "profiles.data is required.",
                "/data/attributes/profiles/data",
            )
        subscribe = kind.endswith("create-job")
        limit = 1000 if subscribe else 100
        if len(rows) > limit:
            raise Refusal(
                400,
                "invalid",
                "Invalid input.",
                f"At most {limit} profiles per job.",
                "/data/attributes/profiles/data",
            )
        historical = attributes.get("historical_import", False)
        if not isinstance(historical, bool):
            raise Refusal(400, "invalid", "Invalid input.", "historical_import must be a boolean.")
        relation = (data.get("relationships") or {}).get("list", {}).get("data")
        if (
            not isinstance(relation, dict)
            or relation.get("type") != "list"
            or not isinstance(relation.get("id"), str)
        ):
            raise Refusal(
                400,
                "invalid",
                "Invalid input.",
                "relationships.list.data needs type list and an id.",
                "/data/relationships/list/data",
            )
        if relation["id"] not in self.lists:
            raise Refusal(404, "not_found", "Not found.", f"List {relation['id']} does not exist.")
        consent = "SUBSCRIBED" if subscribe else "UNSUBSCRIBED"
        plan = []
        for index, row in enumerate(rows):
            pointer = f"/data/attributes/profiles/data/{index}"
            if not isinstance(row, dict) or row.get("type") != "profile":
                raise Refusal(400, "invalid", "Invalid input.", "Each profile has type profile.", pointer)
            attrs = row.get("attributes") or {}
            subscriptions = attrs.get("subscriptions")
            if not isinstance(subscriptions, dict) or not subscriptions:
                raise Refusal(
                    400,
                    "invalid",
                    "Invalid input.",
                    "subscriptions is required.",
                    pointer + "/attributes/subscriptions",
                )
            for channel, params in subscriptions.items():
                if channel not in ("email", "sms"):
                    raise Refusal(
                        400, "invalid", "Invalid input.", f"Unsupported channel {channel}.", pointer
                    )
                marketing = (params or {}).get("marketing") if isinstance(params, dict) else None
                if not isinstance(marketing, dict) or marketing.get("consent") != consent:
                    raise Refusal(
                        400, "invalid", "Invalid input.", f"marketing.consent must be {consent}.", pointer
                    )
                at = marketing.get("consented_at")
                if at is not None and not (subscribe and historical):
                    raise Refusal(
                        400,
                        "invalid",
                        "Invalid input.",
                        "consented_at is only allowed when historical_import is true.",
                        pointer,
                    )
                if subscribe and historical and at is None:
                    raise Refusal(
                        400,
                        "invalid",
                        "Invalid input.",
                        "consented_at is required when historical_import is true.",
                        pointer,
                    )
                identifier = attrs.get("email") if channel == "email" else attrs.get("phone_number")
                valid = EMAIL if channel == "email" else E164
                if not isinstance(identifier, str) or not valid.match(identifier):
                    raise Refusal(
                        400,
                        "invalid",
                        "Invalid input.",
                        f"A valid identifier is required for {channel}.",
                        pointer,
                    )
                plan.append((identifier, channel, at))
        return relation["id"], plan

    def _apply(self, plan: tuple[str, list[tuple[str, str, str | None]]], *, subscribe: bool) -> None:
        list_id, rows = plan
        for identifier, channel, at in rows:
            members = self.members.setdefault((list_id, channel), set())
            if subscribe:
                members.add(identifier)
                self.consent[(identifier, channel)] = "SUBSCRIBED"
                if at:
                    self.consented_at[(identifier, channel)] = at
            elif identifier in members:
                members.discard(identifier)
            else:
                self.consent[(identifier, channel)] = "UNSUBSCRIBED"  # not in the list: global
