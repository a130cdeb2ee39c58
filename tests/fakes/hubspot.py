"""A local fake of HubSpot's API: the endpoints the connector uses, as HubSpot documents them.

Sources (read, not copied): HubSpot's published OpenAPI descriptions, github.com/HubSpot/
HubSpot-public-api-spec-collection, PublicApiSpecs/Communication Preferences/Subscriptions/
Rollouts/176901/v4/subscriptions.json (definitions, statuses/batch/read, batch/write,
batch/unsubscribe-all and its /read; the enums of channel, statusState and legalBasis; the
Error and StandardError bodies) and PublicApiSpecs/CRM/Contacts/Rollouts/424/v3/contacts.json
(contacts/batch/upsert); and developers.hubspot.com: "API usage guidelines and limits" (the
X-HubSpot-RateLimit-* headers, the 429 body with errorType RATE_LIMIT and policyName, 100
requests per 10 seconds for OAuth apps, up to 190 for private apps, daily limits), "Validating
requests from HubSpot" (webhooks v3 signature) and the webhooks guide (the event array).

- OAuth (developers.hubspot.com, the OAuth tokens guide and "Refresh an access token"; the
  refused refresh's body as HubSpot answers it, reported at nango.dev/blog/hubspot-oauth-bad-
  refresh-token; the expired token's 401 as quoted from HubSpot in airbytehq/airbyte#74726 and
  ToolJet/ToolJet#17192): `POST /oauth/v1/token`, form-encoded, grant_type=refresh_token with
  client_id, client_secret and refresh_token, answers `{"token_type": "bearer", "refresh_token",
  "access_token", "expires_in": 1800}` (the same refresh token: HubSpot's do not rotate). A
  missing or unknown grant type, client id, secret or refresh token is a 400
  `{"status": "BAD_GRANT_TYPE" | "BAD_CLIENT_ID" | "BAD_CLIENT_SECRET" | "BAD_REFRESH_TOKEN",
  "message", "correlationId"}` (the names other than BAD_REFRESH_TOKEN are this fake's reading);
  a body that is not form-encoded carries none of the fields. An access token past its
  `expires_in` is a 401 `EXPIRED_AUTHENTICATION` "The OAuth token used to make this call expired
  N second(s) ago." with `context: {"expire time": [...]}`. `expire_tokens()` makes every issued
  token expire now; `revoke(refresh_token)` is the app being uninstalled (its refresh token and
  access tokens stop working).
- `Authorization: Bearer <token>`: missing is 401 `INVALID_AUTHENTICATION`, an unknown token 401
  too (HubSpot does not tell the two apart by status); a token without the scope an operation's
  `security` names is 403 `MISSING_SCOPES` with the required scopes; errors are
  `{"status": "error", "message", "correlationId", "category", "errors"?, "context"?}`.
- `GET /communication-preferences/v4/definitions`: `{"status", "results": [definition], …}`.
- `POST /crm/v3/objects/contacts/batch/upsert`: at most 100 inputs; `id` and `properties`
  required, `idProperty` must be a unique property (email here); an invalid email or a duplicate
  id in the batch is 400 VALIDATION_ERROR; answers the contacts with their ids and `new`.
- `POST /crm/v3/objects/contacts/batch/update` (contacts.json: `id` and `properties` required per
  input, 200 BatchResponseSimplePublicObject or 207 …WithErrors): by record id only (an
  `idProperty` of email is refused as HubSpot refuses a non-unique one, "Unable to perform
  update/upsert by non-unique 0-1 property", reported in HubSpot/hubspot-api-nodejs#548); a new
  email another contact has is a 409 `CONFLICT` "Contact already exists. Existing ID: <id>" and
  nothing of the batch is changed (HubSpot's answer to a taken address, as quoted in
  HubSpot/hubspot-api-python#51 and HubSpot/hubspot-api-nodejs#545; that it refuses the whole
  batch is this fake's reading, as is the 207 with an OBJECT_NOT_FOUND error naming the ids the
  account does not have, the form of HubSpot's batch reads). Statuses stay with the address:
  HubSpot ties them to the email, not the record (developers.hubspot.com, "Update email
  subscription status").
- `GET /crm/v3/objects/contacts/{id}?properties=email` (scope crm.objects.contacts.read): the
  contact with the properties asked for; 404 OBJECT_NOT_FOUND for an id the account lacks.
- `down = True`: every API call answers 503, as in an outage.
- `POST /communication-preferences/v4/statuses/batch/write`: at most 100 inputs; channel EMAIL,
  statusState one of NOT_SPECIFIED / SUBSCRIBED / UNSUBSCRIBED (the enum of PublicStatusRequest;
  v3's NOT_SUBSCRIBED is refused as any other value), a known subscription id, a legalBasis from
  the enum, and (with GDPR tools on, the default here) a legalBasis to subscribe; any fault is
  400 VALIDATION_ERROR and nothing of the batch is written. An address no contact has takes a
  status too (legacydocs.hubspot.com, "Update email subscription status": the status is tied to
  the address and applies to a contact created later with it); SUBSCRIBED over UNSUBSCRIBED is
  a resubscribe (v4 allows it, unlike v3: developers.hubspot.com, the v3 subscription guide's
  note on v4; setStatusSuccessReason RESUBSCRIBE_OCCURRED in the v4 description).
- `POST /crm/v3/objects/contacts/gdpr-delete`: `objectId` required (a contact id, or an email with
  `idProperty` email); deletes the contact and its subscription state for good, and blocklists the
  address; 204, or 404 OBJECT_NOT_FOUND for an id the account does not have.
- `POST …/statuses/batch/unsubscribe-all?channel=EMAIL`: sets the contact's wide status and every
  type's status to UNSUBSCRIBED; `…/batch/read` and `…/batch/unsubscribe-all/read` read them.
- Rate limits: a rolling window of `window_max` calls per `window_ms` (HubSpot's ten-second
  window), a per-second limit and a daily one, with HubSpot's headers on every answer and a 429
  whose body names the policy; `throttle(n)` answers the next n calls 429 whatever the windows.
- Webhooks: `webhook(url, events)` posts a JSON array of events signed the v3 way (see
  sync.delivery.connectors.hubspot_inbound) with the app's client secret; `unsubscribe_all` and
  `unsubscribe_type` change the fake's state as HubSpot does and send the event it sends.

State: contacts by email (HubSpot ids; batch/update moves one to its new email), per (email,
subscription id) the status with its legal basis, and the unsubscribed-from-all emails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from werkzeug import Request, Response
from werkzeug.serving import make_server

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOKEN = "pat-eu1-0a1b2c3d-4e5f-6789-abcd-ef0123456789"
CLIENT_SECRET = "8d2f0c4e-1b3a-4c5d-9e6f-7a8b9c0d1e2f"
CLIENT_ID = "5f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
REFRESH_TOKEN = "eu1-7c3b-9d4e-4f2a-8b1c-0d9e8f7a6b5c"
TOKEN_PATH = "/oauth/v1/token"
LEGAL_BASES = {
    "CONSENT_WITH_NOTICE",
    "LEGITIMATE_INTEREST_CLIENT",
    "LEGITIMATE_INTEREST_OTHER",
    "LEGITIMATE_INTEREST_PQL",
    "NON_GDPR",
    "PERFORMANCE_OF_CONTRACT",
    "PROCESS_AND_STORE",
}
STATES = {"NOT_SPECIFIED", "SUBSCRIBED", "UNSUBSCRIBED"}
BATCH_MAX = 100
URI_DECODED = [(f"%{ord(c):02X}", c) for c in ":/?@!$'()*,;"]
# The scopes each route needs (the `security` of each operation in the specs).
SCOPES = {
    "/communication-preferences/v4/definitions": {
        "communication_preferences.read",
        "communication_preferences.read_write",
    },
    "/communication-preferences/v4/statuses/batch/read": {"communication_preferences.statuses.batch.read"},
    "/communication-preferences/v4/statuses/batch/unsubscribe-all/read": {
        "communication_preferences.statuses.batch.read"
    },
    "/communication-preferences/v4/statuses/batch/write": {"communication_preferences.statuses.batch.write"},
    "/communication-preferences/v4/statuses/batch/unsubscribe-all": {
        "communication_preferences.statuses.batch.write"
    },
    "/crm/v3/objects/contacts/batch/upsert": {"crm.objects.contacts.write"},
    "/crm/v3/objects/contacts/gdpr-delete": {"crm.objects.contacts.write"},
    "/crm/v3/objects/contacts/batch/update": {"crm.objects.contacts.write"},
    "/crm/v3/objects/contacts/{id}": {"crm.objects.contacts.read"},
}
CONTACT_BY_ID = re.compile(r"^/crm/v3/objects/contacts/(\d+)$")
ALL_SCOPES = set().union(*SCOPES.values())


class Refusal(Exception):
    def __init__(self, status: int, category: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.category, self.message, self.extra = status, category, message, extra


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class FakeHubSpot:
    tokens: set[str] = field(default_factory=lambda: {TOKEN})
    # What the private app was granted (every scope the connector needs, unless a test takes one).
    scopes: set[str] = field(default_factory=lambda: set(ALL_SCOPES))
    client_secret: str = CLIENT_SECRET
    # OAuth: the app's client id, the refresh tokens installs gave, and the access tokens issued
    # (token -> (refresh token, expires at, time.time())).
    client_id: str = CLIENT_ID
    refresh_tokens: set[str] = field(default_factory=lambda: {REFRESH_TOKEN})
    issued: dict[str, tuple[str, float]] = field(default_factory=dict)
    token_lifetime: int = 1800
    token_requests: list[dict[str, str]] = field(default_factory=list)
    bearers: list[str] = field(default_factory=list)  # every API call's bearer token, in order
    portal_id: int = 4455667
    app_id: int = 998877
    # id -> (name, active)
    definitions: dict[str, tuple[str, bool]] = field(
        default_factory=lambda: {
            "101": ("Marketing newsletter", True),
            "102": ("Product updates", True),
            "103": ("Old digest", False),
        }
    )
    gdpr_enabled: bool = True
    window_max: int = 190
    window_ms: int = 10_000
    per_second: int = 19
    daily_max: int = 500_000
    latency: float = 0.0
    down: bool = False  # every API call answers 503, as HubSpot's edge does in an outage
    contacts: dict[str, str] = field(default_factory=dict)  # email -> HubSpot id
    statuses: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    unsubscribed_all: set[str] = field(default_factory=set)
    blocklist: set[str] = field(default_factory=set)
    requests: list[dict[str, Any]] = field(default_factory=list)
    _throttle: int = 0
    _calls: deque[float] = field(default_factory=deque)
    _daily: int = 0
    _ids: Any = field(default_factory=lambda: itertools.count(51001))
    _events: Any = field(default_factory=lambda: itertools.count(900001))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: Any = None
    base_url: str = ""

    # --- running -------------------------------------------------------------------------------

    def start(self) -> str:
        self._server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()

    def throttle(self, calls: int) -> None:
        """Answer the next `calls` requests 429 (a storm), whatever the windows say."""
        with self._lock:
            self._throttle = calls

    def status(self, email: str, subscription_id: str) -> str:
        """What HubSpot holds for this address and type (NOT_SPECIFIED if nothing)."""
        with self._lock:
            row = self.statuses.get((email.lower(), subscription_id))
            return row["status"] if row else "NOT_SPECIFIED"

    def set_status(self, email: str, subscription_id: str, status: str, source: str = "CRM_UI") -> None:
        """Change a status as someone inside HubSpot would (drift, for the reconciler's tests)."""
        with self._lock:
            self.statuses[(email.lower(), subscription_id)] = {
                "status": status,
                "timestamp": _now_iso(),
                "source": source,
            }

    def expire_tokens(self) -> None:
        """Every OAuth access token issued so far expires now (as 30 minutes later)."""
        with self._lock:
            now = time.time()
            self.issued = {token: (refresh, min(at, now - 1)) for token, (refresh, at) in self.issued.items()}

    def revoke(self, refresh_token: str) -> None:
        """The app is uninstalled: its refresh token and every access token from it stop working."""
        with self._lock:
            self.refresh_tokens.discard(refresh_token)
            self.issued = {t: v for t, v in self.issued.items() if v[0] != refresh_token}

    def paths(self) -> list[str]:
        with self._lock:
            return [r["path"] for r in self.requests]

    # --- the API -------------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if self.latency:
            time.sleep(self.latency)
        headers: dict[str, str] = {}
        if request.path == TOKEN_PATH:
            return self._token(request)(environ, start_response)
        try:
            if self.down:
                raise Refusal(503, "SERVICE_UNAVAILABLE", "The service is temporarily unavailable.")
            self._authenticate(request)
            headers = self._rate()
            response = self._handle(request)
        except Refusal as refusal:
            response = self._error(refusal)
            if refusal.status == 429:
                headers = refusal.extra.pop("headers", headers)
        for name, value in headers.items():
            response.headers[name] = value
        return response(environ, start_response)

    def _error(self, refusal: Refusal) -> Response:
        body: dict[str, Any] = {
            "status": "error",
            "message": refusal.message,
            "correlationId": str(uuid.uuid4()),
        }
        if refusal.status == 429:
            body["errorType"] = "RATE_LIMIT"
            body["policyName"] = refusal.extra.get("policy", "TEN_SECONDLY_ROLLING")
            body["groupName"] = f"privateapp:{self.portal_id}"
        else:
            body["category"] = refusal.category
            for key in ("errors", "context"):
                if key in refusal.extra:
                    body[key] = refusal.extra[key]
        return Response(
            json.dumps(body), status=refusal.status, content_type="application/json;charset=utf-8"
        )

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or not header.removeprefix("Bearer ").strip():
            raise Refusal(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
            )
        token = header.removeprefix("Bearer ").strip()
        with self._lock:
            self.bearers.append(token)
            oauth = self.issued.get(token)
        if oauth is not None and oauth[1] <= time.time():
            ago = int(time.time() - oauth[1])
            expired_at = datetime.fromtimestamp(oauth[1], UTC).isoformat(timespec="milliseconds")
            raise Refusal(
                401,
                "EXPIRED_AUTHENTICATION",
                f"The OAuth token used to make this call expired {ago} second(s) ago.",
                context={"expire time": [expired_at.replace("+00:00", "Z")]},
            )
        if token not in self.tokens and oauth is None:
            raise Refusal(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials are not valid: the access token is unknown, expired or revoked.",
            )
        path = request.path.rstrip("/")
        needed = SCOPES.get(CONTACT_BY_ID.sub("/crm/v3/objects/contacts/{id}", path), set())
        if needed and not needed & self.scopes:
            raise Refusal(
                403,
                "MISSING_SCOPES",
                "This app hasn't been granted all required scopes to make this call.",
                errors=[
                    {
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": sorted(needed)},
                    }
                ],
            )

    def _token(self, request: Request) -> Response:
        """`POST /oauth/v1/token` with grant_type=refresh_token (the only grant the connector uses)."""

        def refused(status: str, message: str) -> Response:
            body = {"status": status, "message": message, "correlationId": str(uuid.uuid4())}
            return Response(json.dumps(body), status=400, content_type="application/json;charset=utf-8")

        if request.method != "POST":
            return Response("Method Not Allowed", status=405)
        form = request.form if request.mimetype == "application/x-www-form-urlencoded" else {}
        with self._lock:
            self.token_requests.append({k: form.get(k, "") for k in ("grant_type", "client_id")})
            if form.get("grant_type") != "refresh_token":
                return refused("BAD_GRANT_TYPE", "missing or unknown grant type")
            if form.get("client_id") != self.client_id:
                return refused("BAD_CLIENT_ID", "missing or unknown client id")
            if form.get("client_secret") != self.client_secret:
                return refused("BAD_CLIENT_SECRET", "missing or invalid client secret")
            refresh = form.get("refresh_token", "")
            if refresh not in self.refresh_tokens:
                return refused("BAD_REFRESH_TOKEN", "missing or invalid refresh token")
            token = "C" + secrets.token_urlsafe(96)
            self.issued[token] = (refresh, time.time() + self.token_lifetime)
        answer = {
            "token_type": "bearer",
            "refresh_token": refresh,
            "access_token": token,
            "expires_in": self.token_lifetime,
        }
        return Response(json.dumps(answer), status=200, content_type="application/json;charset=utf-8")

    def _headers(self, remaining: int, secondly_remaining: int) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Max": str(self.window_max),
            "X-HubSpot-RateLimit-Remaining": str(max(remaining, 0)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(self.window_ms),
            "X-HubSpot-RateLimit-Secondly": str(self.per_second),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(max(secondly_remaining, 0)),
            "X-HubSpot-RateLimit-Daily": str(self.daily_max),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(self.daily_max - self._daily, 0)),
        }

    def _rate(self) -> dict[str, str]:
        now = time.monotonic()
        with self._lock:
            while self._calls and self._calls[0] < now - self.window_ms / 1000:
                self._calls.popleft()
            in_window = len(self._calls)
            last_second = sum(1 for at in self._calls if at >= now - 1)
            headers = self._headers(self.window_max - in_window, self.per_second - last_second)
            if self._throttle > 0:
                self._throttle -= 1
                policy = "TEN_SECONDLY_ROLLING"
            elif self._daily >= self.daily_max:
                policy = "DAILY"
            elif in_window >= self.window_max:
                policy = "TEN_SECONDLY_ROLLING"
            elif last_second >= self.per_second:
                policy = "SECONDLY"
            else:
                self._calls.append(now)
                self._daily += 1
                return self._headers(self.window_max - in_window - 1, self.per_second - last_second - 1)
        messages = {
            "DAILY": "You have reached your daily limit.",
            "SECONDLY": "You have reached your secondly limit.",
            "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
        }
        raise Refusal(429, "RATE_LIMITS", messages[policy], policy=policy, headers=headers)

    def _body(self, request: Request) -> dict[str, Any]:
        if request.mimetype != "application/json":
            raise Refusal(415, "VALIDATION_ERROR", "Content-Type must be application/json.")
        try:
            body = json.loads(request.get_data(as_text=True))
        except ValueError as exc:
            raise Refusal(
                400, "VALIDATION_ERROR", "Invalid input JSON: the body could not be parsed."
            ) from exc
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
            raise Refusal(400, "VALIDATION_ERROR", "Invalid input JSON: inputs is required.")
        if len(body["inputs"]) > BATCH_MAX:
            raise Refusal(
                400,
                "VALIDATION_ERROR",
                f"Batch input limit exceeded: at most {BATCH_MAX} inputs, got {len(body['inputs'])}.",
                context={"limit": [str(BATCH_MAX)]},
            )
        return body

    def _channel(self, request: Request) -> None:
        channel = request.args.get("channel")
        if channel != "EMAIL":
            raise Refusal(
                400,
                "VALIDATION_ERROR",
                "channel is required and must be one of [EMAIL].",
                errors=[{"message": f"Invalid channel {channel!r}", "in": "channel"}],
            )

    def _handle(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        base = "/communication-preferences/v4"
        if request.method == "GET" and path == f"{base}/definitions":
            return self._json({"status": "COMPLETE", **self._stamps(), "results": self._definitions()})
        by_id = CONTACT_BY_ID.match(path)
        if request.method == "GET" and by_id:
            return self._contact(by_id.group(1), request)
        if request.method == "POST" and path == "/crm/v3/objects/contacts/batch/update":
            body = self._body(request)
            with self._lock:
                status, answer = self._update(body)
                self.requests.append({"path": path, "query": {}, "body": body})
            return Response(json.dumps(answer), status=status, content_type="application/json;charset=utf-8")
        if request.method != "POST":
            raise Refusal(404, "OBJECT_NOT_FOUND", f"No route {request.method} {request.path}.")
        routes = {
            "/crm/v3/objects/contacts/batch/upsert": self._upsert,
            f"{base}/statuses/batch/write": self._write,
            f"{base}/statuses/batch/unsubscribe-all": self._unsubscribe_all,
            f"{base}/statuses/batch/read": self._read,
            f"{base}/statuses/batch/unsubscribe-all/read": self._read_all,
        }
        if path == "/crm/v3/objects/contacts/gdpr-delete":
            return self._gdpr_delete(request)
        handler = routes.get(path)
        if handler is None:
            raise Refusal(404, "OBJECT_NOT_FOUND", f"No route {request.method} {request.path}.")
        if path != "/crm/v3/objects/contacts/batch/upsert" and path != f"{base}/statuses/batch/write":
            self._channel(request)
        body = self._body(request)
        with self._lock:
            answer = handler(body)
            self.requests.append({"path": path, "query": dict(request.args), "body": body})
        return self._json(answer)

    def _gdpr_delete(self, request: Request) -> Response:
        try:
            body = json.loads(request.get_data(as_text=True))
        except ValueError as exc:
            raise Refusal(
                400, "VALIDATION_ERROR", "Invalid input JSON: the body could not be parsed."
            ) from exc
        if not isinstance(body, dict) or not isinstance(body.get("objectId"), str) or not body["objectId"]:
            raise Refusal(400, "VALIDATION_ERROR", "objectId is required.")
        with self._lock:
            if body.get("idProperty") == "email":
                email = body["objectId"].lower()
            else:
                by_id = {hubspot_id: email for email, hubspot_id in self.contacts.items()}
                if body["objectId"] not in by_id:
                    raise Refusal(404, "OBJECT_NOT_FOUND", f"resource not found: contact {body['objectId']}")
                email = by_id[body["objectId"]]
            self.contacts.pop(email, None)
            self.unsubscribed_all.discard(email)
            for key in [k for k in self.statuses if k[0] == email]:
                del self.statuses[key]
            self.blocklist.add(email)
            self.requests.append({"path": request.path, "query": {}, "body": body})
        return Response(b"", status=204)

    def _json(self, body: dict[str, Any]) -> Response:
        return Response(json.dumps(body), status=200, content_type="application/json;charset=utf-8")

    def _stamps(self) -> dict[str, str]:
        now = _now_iso()
        return {"startedAt": now, "completedAt": now, "requestedAt": now}

    def _definitions(self) -> list[dict[str, Any]]:
        now = _now_iso()
        return [
            {
                "id": sid,
                "name": name,
                "description": f"{name} emails",
                "purpose": "Marketing",
                "communicationMethod": "Email",
                "isActive": active,
                "isDefault": False,
                "isInternal": False,
                "businessUnitId": 0,
                "createdAt": now,
                "updatedAt": now,
            }
            for sid, (name, active) in sorted(self.definitions.items())
        ]

    # Every handler runs under the lock and validates the whole batch before changing anything.

    def _upsert(self, body: dict[str, Any]) -> dict[str, Any]:
        seen: set[str] = set()
        for index, row in enumerate(body["inputs"]):
            if not isinstance(row, dict) or not isinstance(row.get("id"), str) or "properties" not in row:
                raise Refusal(400, "VALIDATION_ERROR", f"inputs[{index}]: id and properties are required.")
            if row.get("idProperty") != "email":
                raise Refusal(
                    400,
                    "VALIDATION_ERROR",
                    f"inputs[{index}]: idProperty must name a unique value property (email).",
                )
            properties = row["properties"]
            if not isinstance(properties, dict) or any(not isinstance(v, str) for v in properties.values()):
                raise Refusal(400, "VALIDATION_ERROR", f"inputs[{index}]: property values are strings.")
            email = row["id"].lower()
            if not EMAIL.match(email):
                raise Refusal(
                    400,
                    "VALIDATION_ERROR",
                    "Property values were not valid",
                    errors=[{"message": f"{row['id']} is not a valid email address", "in": "email"}],
                )
            if email in seen:
                raise Refusal(400, "VALIDATION_ERROR", f"Duplicate IDs found in batch input: [{row['id']}].")
            seen.add(email)
        results = []
        for row in body["inputs"]:
            email = row["id"].lower()
            new = email not in self.contacts
            if new:
                self.contacts[email] = str(next(self._ids))
            results.append(
                {
                    "id": self.contacts[email],
                    "new": new,
                    "archived": False,
                    "properties": {"email": email, "hs_object_id": self.contacts[email]},
                    "createdAt": _now_iso(),
                    "updatedAt": _now_iso(),
                }
            )
        return {"status": "COMPLETE", **self._stamps(), "results": results}

    def _contact(self, hubspot_id: str, request: Request) -> Response:
        """`GET /crm/v3/objects/contacts/{id}?properties=…`: the contact with the properties asked
        for (and hs_object_id); 404 for an id the account does not have."""
        wanted = [p for p in request.args.get("properties", "").split(",") if p]
        with self._lock:
            email = next((e for e, i in self.contacts.items() if i == hubspot_id), None)
            self.requests.append({"path": request.path, "query": dict(request.args), "body": None})
        if email is None:
            raise Refusal(404, "OBJECT_NOT_FOUND", f"resource not found: contact {hubspot_id}")
        known = {"email": email, "hs_object_id": hubspot_id}
        properties = {"hs_object_id": hubspot_id} | {p: known.get(p) for p in wanted}
        return self._json(
            {
                "id": hubspot_id,
                "properties": properties,
                "createdAt": _now_iso(),
                "updatedAt": _now_iso(),
                "archived": False,
            }
        )

    def _update(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """`POST /crm/v3/objects/contacts/batch/update` by record id. Statuses stay with the
        address (HubSpot ties them to the email, not the record)."""
        seen: set[str] = set()
        for index, row in enumerate(body["inputs"]):
            if not isinstance(row, dict) or not isinstance(row.get("id"), str) or "properties" not in row:
                raise Refusal(400, "VALIDATION_ERROR", f"inputs[{index}]: id and properties are required.")
            if row.get("idProperty") is not None:
                # Only the record id is used here; email as idProperty would name the old address.
                raise Refusal(
                    400,
                    "VALIDATION_ERROR",
                    f"Unable to perform update/upsert by non-unique 0-1 property {row['idProperty']}",
                )
            properties = row["properties"]
            if not isinstance(properties, dict) or any(not isinstance(v, str) for v in properties.values()):
                raise Refusal(400, "VALIDATION_ERROR", f"inputs[{index}]: property values are strings.")
            if "email" in properties and not EMAIL.match(properties["email"]):
                raise Refusal(
                    400,
                    "VALIDATION_ERROR",
                    "Property values were not valid",
                    errors=[
                        {"message": f"{properties['email']} is not a valid email address", "in": "email"}
                    ],
                )
            if row["id"] in seen:
                raise Refusal(400, "VALIDATION_ERROR", f"Duplicate IDs found in batch input: [{row['id']}].")
            seen.add(row["id"])
        by_id = {hubspot_id: email for email, hubspot_id in self.contacts.items()}
        for row in body["inputs"]:
            new = row["properties"].get("email", "").lower()
            holder = self.contacts.get(new)
            if new and row["id"] in by_id and holder is not None and holder != row["id"]:
                raise Refusal(409, "CONFLICT", f"Contact already exists. Existing ID: {holder}")
        results, missing = [], []
        for row in body["inputs"]:
            if row["id"] not in by_id:
                missing.append(row["id"])
                continue
            email = by_id[row["id"]]
            new = row["properties"].get("email", "").lower()
            if new and new != email:
                del self.contacts[email]
                self.contacts[new] = row["id"]
                email = new
            results.append(
                {
                    "id": row["id"],
                    "archived": False,
                    "properties": {"email": email, "hs_object_id": row["id"]},
                    "createdAt": _now_iso(),
                    "updatedAt": _now_iso(),
                }
            )
        answer: dict[str, Any] = {"status": "COMPLETE", **self._stamps(), "results": results}
        if not missing:
            return 200, answer
        answer["numErrors"] = 1
        answer["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "Could not get some CONTACT objects, they may be deleted or not exist. "
                "Check that ids are valid.",
                "context": {"ids": missing},
                "errors": [],
                "links": {},
            }
        ]
        return 207, answer

    def _write(self, body: dict[str, Any]) -> dict[str, Any]:
        for index, row in enumerate(body["inputs"]):
            where = f"inputs[{index}]"
            if not isinstance(row, dict):
                raise Refusal(400, "VALIDATION_ERROR", f"{where} is an object.")
            missing = [
                k for k in ("channel", "statusState", "subscriberIdString", "subscriptionId") if k not in row
            ]
            if missing:
                raise Refusal(400, "VALIDATION_ERROR", f"{where}: missing {', '.join(missing)}.")
            if row["channel"] != "EMAIL":
                raise Refusal(400, "VALIDATION_ERROR", f"{where}.channel must be one of [EMAIL].")
            if row["statusState"] not in STATES:
                raise Refusal(
                    400,
                    "VALIDATION_ERROR",
                    f"{where}.statusState must be one of [NOT_SPECIFIED, SUBSCRIBED, UNSUBSCRIBED].",
                )
            sid = row["subscriptionId"]
            if not isinstance(sid, int) or str(sid) not in self.definitions:
                raise Refusal(400, "VALIDATION_ERROR", f"{where}: subscription {sid} does not exist.")
            if not isinstance(row["subscriberIdString"], str) or not EMAIL.match(row["subscriberIdString"]):
                raise Refusal(400, "VALIDATION_ERROR", f"{where}.subscriberIdString is not a valid email.")
            basis = row.get("legalBasis")
            if basis is not None and basis not in LEGAL_BASES:
                raise Refusal(400, "VALIDATION_ERROR", f"{where}.legalBasis is not a legal basis.")
            if self.gdpr_enabled and row["statusState"] == "SUBSCRIBED" and basis is None:
                raise Refusal(
                    400,
                    "VALIDATION_ERROR",
                    f"{where}: a legal basis is required to subscribe in an account with GDPR tools on.",
                )
        results = []
        for row in body["inputs"]:
            email, sid = row["subscriberIdString"].lower(), str(row["subscriptionId"])
            before = self.statuses.get((email, sid), {}).get("status", "NOT_SPECIFIED")
            entry = {
                "status": row["statusState"],
                "legalBasis": row.get("legalBasis"),
                "legalBasisExplanation": row.get("legalBasisExplanation"),
                "timestamp": _now_iso(),
                "source": "Public API",
            }
            self.statuses[(email, sid)] = entry
            if row["statusState"] == "SUBSCRIBED":
                self.unsubscribed_all.discard(email)  # v4 resubscribes
            reason = (
                "NO_STATUS_CHANGE"
                if before == row["statusState"]
                else "RESUBSCRIBE_OCCURRED"
                if before == "UNSUBSCRIBED"
                else "REQUESTED_CHANGE_OCCURRED"
            )
            results.append(self._public(email, sid) | {"setStatusSuccessReason": reason})
        return {"status": "COMPLETE", **self._stamps(), "results": results}

    def _public(self, email: str, sid: str) -> dict[str, Any]:
        entry = self.statuses.get((email, sid), {})
        out = {
            "subscriberIdString": email,
            "subscriptionId": int(sid),
            "subscriptionName": self.definitions[sid][0],
            "channel": "EMAIL",
            "status": entry.get("status", "NOT_SPECIFIED"),
            "source": entry.get("source", ""),
            "timestamp": entry.get("timestamp", _now_iso()),
        }
        if entry.get("legalBasis"):
            out["legalBasis"] = entry["legalBasis"]
            out["legalBasisExplanation"] = entry.get("legalBasisExplanation") or ""
        return out

    def _emails(self, body: dict[str, Any]) -> list[str]:
        emails = body["inputs"]
        if any(not isinstance(e, str) or not EMAIL.match(e) for e in emails):
            raise Refusal(400, "VALIDATION_ERROR", "inputs are email addresses.")
        return [e.lower() for e in emails]

    def _unsubscribe_all(self, body: dict[str, Any]) -> dict[str, Any]:
        results = []
        for email in self._emails(body):
            self.unsubscribed_all.add(email)
            for sid in self.definitions:
                self.statuses[(email, sid)] = {
                    "status": "UNSUBSCRIBED",
                    "timestamp": _now_iso(),
                    "source": "Public API",
                }
            results.append({"subscriberIdString": email, "statuses": []})
        return {"status": "COMPLETE", **self._stamps(), "results": results}

    def _read(self, body: dict[str, Any]) -> dict[str, Any]:
        results = []
        for email in self._emails(body):
            sids = sorted(sid for (e, sid) in self.statuses if e == email)
            results.append({"subscriberIdString": email, "statuses": [self._public(email, s) for s in sids]})
        return {"status": "COMPLETE", **self._stamps(), "results": results}

    def _read_all(self, body: dict[str, Any]) -> dict[str, Any]:
        results = [
            {
                "subscriberIdString": email,
                "wideStatuses": [
                    {
                        "subscriberIdString": email,
                        "channel": "EMAIL",
                        "wideStatusType": "PORTAL_WIDE",
                        "status": "UNSUBSCRIBED" if email in self.unsubscribed_all else "NOT_SPECIFIED",
                        "timestamp": _now_iso(),
                    }
                ],
            }
            for email in self._emails(body)
        ]
        return {"status": "COMPLETE", **self._stamps(), "results": results}

    # --- webhooks --------------------------------------------------------------------------------

    def event(
        self, *, email: str, property_name: str, value: str, event_id: int | None = None
    ) -> dict[str, Any]:
        """One contact.propertyChange event as HubSpot sends it, about the contact with `email`."""
        with self._lock:
            object_id = int(self.contacts.setdefault(email.lower(), str(next(self._ids))))
            eid = event_id if event_id is not None else next(self._events)
        return {
            "eventId": eid,
            "subscriptionId": 2345678,
            "portalId": self.portal_id,
            "appId": self.app_id,
            "occurredAt": int(time.time() * 1000),
            "subscriptionType": "contact.propertyChange",
            "attemptNumber": 0,
            "objectId": object_id,
            "propertyName": property_name,
            "propertyValue": value,
            "changeSource": "EMAIL_UNSUBSCRIBE",
            "sourceId": "EMAIL_UNSUBSCRIBE",
        }

    def signed(
        self,
        url: str,
        events: list[dict[str, Any]],
        *,
        secret: str | None = None,
        timestamp: int | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """(headers, body) of the call HubSpot makes to `url`, signed the v3 way."""
        body = json.dumps(events).encode()
        stamp = str(timestamp if timestamp is not None else int(time.time() * 1000))
        for encoded, char in URI_DECODED:  # HubSpot decodes these in the URI it signs
            url = url.replace(encoded, char)
        message = b"POST" + url.encode() + body + stamp.encode()
        key = (secret if secret is not None else self.client_secret).encode()
        signature = base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
        headers = {
            "Content-Type": "application/json",
            "X-HubSpot-Signature-v3": signature,
            "X-HubSpot-Request-Timestamp": stamp,
            "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/)",
        }
        return headers, body

    def webhook(self, url: str, events: list[dict[str, Any]], **options: Any) -> int:
        """Post the events to `url` as HubSpot does; the status it got."""
        headers, body = self.signed(url, events, **options)
        return httpx.post(url, content=body, headers=headers, timeout=10).status_code

    def unsubscribe_all(self, email: str, *, url: str, event_id: int | None = None) -> int:
        """The person clicks "unsubscribe from all" in a HubSpot email: HubSpot's state changes,
        then its webhook (hs_email_optout to true) goes to `url`."""
        with self._lock:
            self.unsubscribed_all.add(email.lower())
            for sid in self.definitions:
                self.statuses[(email.lower(), sid)] = {
                    "status": "UNSUBSCRIBED",
                    "timestamp": _now_iso(),
                    "source": "Unsubscribe link",
                }
        return self.webhook(
            url, [self.event(email=email, property_name="hs_email_optout", value="true", event_id=event_id)]
        )

    def unsubscribe_type(
        self, email: str, subscription_id: str, *, url: str, event_id: int | None = None
    ) -> int:
        """The person opts out of one subscription type on HubSpot's preferences page."""
        self.set_status(email, subscription_id, "UNSUBSCRIBED", source="Subscription preferences page")
        event = self.event(
            email=email, property_name=f"hs_email_optout_{subscription_id}", value="true", event_id=event_id
        )
        return self.webhook(url, [event])
