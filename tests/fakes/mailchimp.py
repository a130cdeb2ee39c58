"""A local fake of Mailchimp's Marketing API 3.0: the endpoints the connector uses, as Mailchimp
documents them, and its list webhooks.

Sources (read, not copied): the Marketing API reference, mailchimp.com/developer/marketing/api/
(root and authentication, errors "API Key Missing" / "API Key Invalid" / "Resource Not Found" /
"Invalid Resource" / "Member In Compliance State" / "Too Many Requests", lists, list-members,
"Batch subscribe or unsubscribe", interest-categories, interests) and its guide "Sync audience
data with webhooks" (the GET check when a webhook is created; form-encoded POSTs with `type`,
`fired_at` "YYYY-MM-DD HH:MM:SS" and `data[...]`); the request and response types of the
published client github.com/mailchimp/mailchimp-marketing-python-sdk (src/mailchimp_marketing/
lists/types/batch_subscribe_or_unsubscribe_lists_*: 500 members at most, `status_if_new`,
`update_existing`, `errors[]` with `email_address`, `error`, `error_code` ERROR_CONTACT_EXISTS /
ERROR_GENERIC).

- Auth: HTTP Basic, any user name, the key as password. No credentials: 401 "API Key Missing";
  an unknown key, or a key of another data centre than this server's (`dc`): 401 "API Key
  Invalid" ("…or you've attempted to access the wrong datacenter"). Errors are
  `application/problem+json` `{"type", "title", "status", "detail", "instance"}`, a body that does
  not validate adds `errors: [{"field", "message"}]`.
- `GET /3.0/lists`, `/3.0/lists/{id}` (with `stats`), `…/interest-categories`,
  `…/interest-categories/{id}/interests`, `…/members` (`count` at most 1000, `offset`) and
  `…/members/{subscriber_hash}` (404 when absent). `fields` is accepted and not applied.
- `POST /3.0/lists/{id}`: at most 500 members; each needs `email_address` and a `status` or
  `status_if_new` (subscribed, unsubscribed, cleaned, pending, transactional); with
  `update_existing` false an existing member is an error ERROR_CONTACT_EXISTS. Per-member
  refusals answer 200 with the member in `errors`: an address that is not one ("looks fake or
  invalid"), an unknown interest id, a marketing permission on an audience without GDPR fields
  or an unknown one, and subscribing a member in a compliance state: one who unsubscribed
  themselves, complained, or was cleaned (Mailchimp: "…is in a compliance state due to
  unsubscribe, bounce, or compliance review and cannot be subscribed"; `pending`, which mails
  the person a confirmation, is allowed). A member unsubscribed through the API can be
  subscribed again through it.
- Rate limit: 10 simultaneous connections per key (`connections`), the eleventh is a 429 "Too
  Many Requests" without Retry-After, as Mailchimp documents it; `throttle(n)` answers the next
  n batch calls 429 whatever; `latency` adds seconds to each call; `gate` holds admitted calls
  until it is set (so a test overlaps calls for sure); `down` answers every call 503.
- `PUT /3.0/lists/{id}/members/{subscriber_hash}` ("Add or update list member"): the same member
  body; `email_address` and `status_if_new` are required for a member the list does not have, the
  address must be the one the hash names; a refusal is a 400 problem ("Invalid Resource",
  "Member In Compliance State", "Forgotten Email Not Subscribed"); 200 with the member.
- `PATCH /3.0/lists/{id}/members/{subscriber_hash}` ("Update list member"): the same member
  body, only what it names changes; 404 for a member the list does not have. An `email_address`
  other than the member's changes the member's address (Mailchimp's API release notes of 3
  November 2016: "update an existing list member's email_address through a PATCH or PUT"), the
  member then answering to the new address's hash; when the list already has a member at that
  address, a 400 "Member Exists" ("… is already a list member. Use PUT to insert or update list
  members.", the title and detail Mailchimp answers for an address already on the list, quoted in
  mailchimp/APIv3-examples #49 and MicrosoftDocs connectors #69); an address permanently deleted
  from the list, "Forgotten Email Not Subscribed", as for PUT.
- `POST /3.0/lists/{id}/members/{subscriber_hash}/actions/delete-permanent`: 204, the member and
  their data gone; 404 for a member the list does not have. A permanently deleted address cannot
  be imported again by the API (any status, `pending` included): 400 "Forgotten Email Not
  Subscribed", "… was permanently deleted and cannot be re-imported. The contact must
  re-subscribe to get back on the list." (the reference's delete-permanent entry: "This will make
  it impossible to re-import the list member"; the title and detail as Mailchimp answers them,
  quoted in mailchimp-for-wordpress issues #666/#673/#771 and MailChimp.Net #416).
- Batch operations (the reference's batches and the guide "Run Async Requests with the Batch
  Endpoint", the published OpenAPI description as generated into github.com/Hevelop/go-client-
  mailchimp-marketing-api api/openapi.yaml: `postBatches_request`, `Operations`, `Batch`, and the
  archive's rows as github.com/FullFact/python-batchmailchimp reads them): `POST /3.0/batches`
  `{"operations": [{"method", "path", "params"?, "body"? (a JSON string), "operation_id"?}]}`,
  method GET/POST/PUT/PATCH/DELETE and a relative path required; answered 200 with the batch
  (`id`, `status` "pending", `total_operations`, `finished_operations`, `errored_operations`,
  `submitted_at`, `completed_at`, `response_body_url`). `GET /3.0/batches/{id}` reads it: status
  pending -> preprocessing -> started -> finalizing -> finished; one batch runs at a time, in the
  order submitted ("Since only one batch request is run at a time", DELETE /batches/{id}). Each
  operation is run as the same call made directly would be (the same validation and refusals) but
  is not one of the key's ten connections. Once finished, `response_body_url` names a gzipped tar
  archive of JSON files, each a list of `{"status_code", "operation_id", "response"}` (`response`
  the operation's answer as a JSON string), served from another path without the API key, as
  Mailchimp's pre-signed storage URL is (a wrong or missing signature: 403). `hold` keeps
  submitted batches pending until it is set; `throttle_polls(n)` answers the next n status reads
  429, as any call past the connection limit is.
- Webhooks: `person_unsubscribes` / `bounces` change the member as Mailchimp would and return
  the form Mailchimp posts (`webhook_form`); `webhook_post` sends it, form-encoded, to a URL.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import queue
import re
import secrets
import tarfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
from werkzeug import Request, Response
from werkzeug.serving import make_server
from werkzeug.test import EnvironBuilder

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
ERRORS_DOC = "https://mailchimp.com/developer/marketing/docs/errors/"
PROBLEM = "application/problem+json; charset=utf-8"
INVALID = "The resource submitted could not be validated. For field-specific details, see the 'errors' array."
KEY = "0123456789abcdef0123456789abcdef-us21"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
RESULTS_PER_FILE = 500  # rows per JSON file of a results archive (Mailchimp documents no size)
FORGOTTEN = (
    "{email} was permanently deleted and cannot be re-imported. "
    "The contact must re-subscribe to get back on the list."
)
MEMBER_EXISTS = "Use PUT to insert or update list members."
COMPLIANT = (
    "{email} is in a compliance state due to unsubscribe, bounce, or compliance review "
    "and cannot be subscribed."
)


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


class Refusal(Exception):
    def __init__(
        self, status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.errors = status, title, detail, errors


@dataclass
class FakeList:
    name: str
    # category id -> (title, {interest id: name})
    categories: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    # GDPR marketing permission id -> text; empty: the audience has no GDPR fields
    permissions: dict[str, str] = field(default_factory=dict)

    def interest_ids(self) -> set[str]:
        return {i for _, interests in self.categories.values() for i in interests}


@dataclass
class Member:
    email: str
    status: str
    interests: dict[str, bool] = field(default_factory=dict)
    permissions: dict[str, bool] = field(default_factory=dict)
    # Unsubscribed by the person, complained or cleaned: the API may not subscribe them again.
    compliance: bool = False
    last_changed: str = ""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


@dataclass
class FakeBatch:
    id: str
    operations: list[dict[str, Any]]
    status: str = "pending"
    finished_operations: int = 0
    errored_operations: int = 0
    submitted_at: str = field(default_factory=_now)
    completed_at: str = ""
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    archive: bytes = b""
    # Every status it went through, in order (the tests read the progression).
    history: list[str] = field(default_factory=lambda: ["pending"])
    results: list[dict[str, Any]] = field(default_factory=list)
    cancelled: bool = False


@dataclass
class FakeMailchimp:
    dc: str = "us21"
    api_keys: set[str] = field(default_factory=lambda: {KEY})
    lists: dict[str, FakeList] = field(
        default_factory=lambda: {
            "a1b2c3d4e5": FakeList(
                name="Newsletter",
                categories={"cat1": ("Topics", {"int111": "Weekly news", "int222": "Offers"})},
                permissions={"perm01": "Email", "perm02": "Customized online advertising"},
            ),
            "f6e5d4c3b2": FakeList(name="Customers"),
        }
    )
    connections: int = 10
    latency: float = 0.0
    # When set, every admitted call waits for it: calls then overlap for sure (the 429 test).
    gate: threading.Event | None = None
    # Mailchimp down (an outage): every call is a 503 problem until it is back.
    down: bool = False
    members: dict[tuple[str, str], Member] = field(default_factory=dict)  # (list id, hash)
    requests: list[dict[str, Any]] = field(default_factory=list)  # accepted batch calls
    refused: int = 0
    # Permanently deleted members, by (list id, hash): never imported again.
    forgotten: set[tuple[str, str]] = field(default_factory=set)
    # Every write to a member, in order: (how, list id, hash), how "batch" (POST /lists/{id}),
    # "put" (direct or in a batch operation) or "delete-permanent".
    writes: list[tuple[str, str, str]] = field(default_factory=list)
    batches: dict[str, FakeBatch] = field(default_factory=dict)
    # When set to an Event that is not set, submitted batches stay pending until it is.
    hold: threading.Event | None = None
    # Seconds each status step of a batch takes (pending -> preprocessing -> started -> finalizing
    # -> finished).
    batch_step: float = 0.0
    _throttle: int = 0
    _throttle_polls: int = 0
    _queue: queue.Queue[str] = field(default_factory=queue.Queue)
    _in_flight: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: Any = None
    base_url: str = ""

    # --- running ---------------------------------------------------------------------------

    def start(self) -> str:
        self._server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        threading.Thread(target=self._batch_runner, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        if self.hold is not None:
            self.hold.set()
        self._queue.put("")  # the runner's signal to end

    def throttle_polls(self, calls: int) -> None:
        """Answer the next `calls` reads of a batch's status 429."""
        with self._lock:
            self._throttle_polls = calls

    def batch_statuses(self) -> dict[str, str]:
        with self._lock:
            return {batch_id: batch.status for batch_id, batch in self.batches.items()}

    def wait_batches_finished(self, timeout: float = 30.0) -> None:
        """Until every submitted batch is finished (a test's condition, polled)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(status == "finished" for status in self.batch_statuses().values()):
                return
            time.sleep(0.01)
        raise AssertionError(f"batches not finished: {self.batch_statuses()}")

    def throttle(self, calls: int) -> None:
        """Answer the next `calls` batch calls 429 (a storm), whatever the connections."""
        with self._lock:
            self._throttle = calls

    # --- state, as the tests read and change it ----------------------------------------------

    def member(self, list_id: str, email: str) -> Member | None:
        with self._lock:
            return self.members.get((list_id, subscriber_hash(email)))

    def statuses(self, list_id: str) -> dict[str, str]:
        with self._lock:
            return {m.email.lower(): m.status for (lid, _), m in self.members.items() if lid == list_id}

    def put(self, list_id: str, email: str, status: str, **kwargs: Any) -> Member:
        """Drift: change a member the way an import or the Mailchimp UI would."""
        with self._lock:
            member = self.members.get((list_id, subscriber_hash(email)))
            if member is None:
                member = self.members[(list_id, subscriber_hash(email))] = Member(email=email, status=status)
                for permission in self.lists[list_id].permissions:
                    member.permissions.setdefault(permission, False)
            member.status = status
            member.interests.update(kwargs.get("interests", {}))
            member.permissions.update(kwargs.get("permissions", {}))
            member.compliance = kwargs.get("compliance", member.compliance)
            member.last_changed = _now()
            return member

    def person_unsubscribes(
        self, list_id: str, email: str, *, reason: str = "manual", campaign_id: str = "cb398d21d2"
    ) -> dict[str, str]:
        """The person clicks unsubscribe (or reports abuse): the member is unsubscribed for good;
        the form Mailchimp posts to the list's webhooks."""
        self.put(list_id, email, "unsubscribed", compliance=True)
        return webhook_form(
            "unsubscribe",
            list_id=list_id,
            email=email,
            extra={"action": "unsub", "reason": reason, "campaign_id": campaign_id},
        )

    def bounces(self, list_id: str, email: str, *, reason: str = "hard") -> dict[str, str]:
        self.put(list_id, email, "cleaned", compliance=True)
        return webhook_form(
            "cleaned", list_id=list_id, email=email, extra={"reason": reason, "campaign_id": "cb398d21d2"}
        )

    # --- the API -----------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        key = None
        if request.path.startswith("/batch-results/"):
            return self._archive(request)(environ, start_response)
        try:
            if self.down:
                raise Refusal(503, "Service Unavailable", "The service is temporarily unavailable.")
            key = self._authenticate(request)
            self._connect(key, batch=request.method == "POST", poll=request.path.startswith("/3.0/batches/"))
            try:
                if self.latency:
                    time.sleep(self.latency)
                if self.gate is not None:
                    self.gate.wait(30)
                response = self._handle(request)
            finally:
                with self._lock:
                    self._in_flight[key] -= 1
        except Refusal as refusal:
            with self._lock:
                self.refused += 1
            response = self._problem(refusal)
        return response(environ, start_response)

    def _problem(self, refusal: Refusal) -> Response:
        body: dict[str, Any] = {
            "type": ERRORS_DOC,
            "title": refusal.title,
            "status": refusal.status,
            "detail": refusal.detail,
            "instance": str(uuid.uuid4()),
        }
        if refusal.errors is not None:
            body["errors"] = refusal.errors
        return Response(json.dumps(body), status=refusal.status, content_type=PROBLEM)

    def _authenticate(self, request: Request) -> str:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            raise Refusal(401, "API Key Missing", "Your request did not include an API key.")
        try:
            _, _, key = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError) as exc:
            raise Refusal(401, "API Key Missing", "Your request did not include an API key.") from exc
        if key not in self.api_keys or not key.endswith(f"-{self.dc}"):
            raise Refusal(
                401,
                "API Key Invalid",
                "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
            )
        return key

    def _connect(self, key: str, *, batch: bool, poll: bool = False) -> None:
        with self._lock:
            if poll and self._throttle_polls > 0:
                self._throttle_polls -= 1
                raise Refusal(
                    429, "Too Many Requests", "You have exceeded the limit of 10 simultaneous connections."
                )
            if batch and self._throttle > 0:
                self._throttle -= 1
                raise Refusal(
                    429, "Too Many Requests", "You have exceeded the limit of 10 simultaneous connections."
                )
            if self._in_flight.get(key, 0) >= self.connections:
                raise Refusal(
                    429, "Too Many Requests", "You have exceeded the limit of 10 simultaneous connections."
                )
            self._in_flight[key] = self._in_flight.get(key, 0) + 1

    def _not_found(self) -> Refusal:
        return Refusal(404, "Resource Not Found", "The requested resource could not be found.")

    def _page(self, request: Request, rows: list[dict[str, Any]], key: str, **extra: Any) -> Response:
        count, offset = request.args.get("count", "10"), request.args.get("offset", "0")
        if not count.isdigit() or not offset.isdigit() or not 0 < int(count) <= 1000:
            raise Refusal(
                400,
                "Invalid Resource",
                INVALID,
                [{"field": "count", "message": "count must be from 1 to 1000."}],
            )
        page = rows[int(offset) : int(offset) + int(count)]
        return Response(
            json.dumps({key: page, **extra, "total_items": len(rows)}), content_type="application/json"
        )

    def _handle(self, request: Request) -> Response:
        parts = [p for p in request.path.split("/") if p]
        if parts[:1] != ["3.0"]:
            raise self._not_found()
        parts = parts[1:]
        if parts[:1] == ["batches"]:
            return self._batches_call(request, parts[1:])
        if request.method == "GET" and parts == ["lists"]:
            rows = [self._list_row(list_id) for list_id in sorted(self.lists)]
            return self._page(request, rows, "lists")
        if len(parts) < 2 or parts[0] != "lists" or parts[1] not in self.lists:
            raise self._not_found()
        list_id, rest = parts[1], parts[2:]
        fake_list = self.lists[list_id]
        if request.method == "POST" and not rest:
            return self._batch(request, list_id)
        if request.method == "PUT" and len(rest) == 2 and rest[0] == "members":
            return self._put_member(request, list_id, rest[1].lower())
        if request.method == "PATCH" and len(rest) == 2 and rest[0] == "members":
            return self._patch_member(request, list_id, rest[1].lower())
        if (
            request.method == "POST"
            and len(rest) == 4
            and rest[0] == "members"
            and rest[2:]
            == [
                "actions",
                "delete-permanent",
            ]
        ):
            return self._delete_permanent(list_id, rest[1].lower())
        if request.method != "GET":
            raise Refusal(405, "Method Not Allowed", "The requested method and resource are not compatible.")
        if not rest:
            return Response(json.dumps(self._list_row(list_id)), content_type="application/json")
        if rest == ["interest-categories"]:
            rows = [
                {"list_id": list_id, "id": cid, "title": title, "display_order": 0, "type": "checkboxes"}
                for cid, (title, _) in sorted(fake_list.categories.items())
            ]
            return self._page(request, rows, "categories", list_id=list_id)
        if len(rest) == 3 and rest[0] == "interest-categories" and rest[2] == "interests":
            if rest[1] not in fake_list.categories:
                raise self._not_found()
            interests = fake_list.categories[rest[1]][1]
            rows = [
                {"category_id": rest[1], "list_id": list_id, "id": iid, "name": name, "display_order": 0}
                for iid, name in sorted(interests.items())
            ]
            return self._page(request, rows, "interests", list_id=list_id, category_id=rest[1])
        if rest == ["members"]:
            with self._lock:
                rows = [
                    self._member_row(list_id, h, m)
                    for (lid, h), m in sorted(self.members.items())
                    if lid == list_id
                ]
            return self._page(request, rows, "members", list_id=list_id)
        if len(rest) == 2 and rest[0] == "members":
            with self._lock:
                member = self.members.get((list_id, rest[1].lower()))
                if member is None:
                    raise self._not_found()
                row = self._member_row(list_id, rest[1].lower(), member)
            return Response(json.dumps(row), content_type="application/json")
        raise self._not_found()

    def _list_row(self, list_id: str) -> dict[str, Any]:
        with self._lock:
            counts = {status: 0 for status in STATUSES}
            for (lid, _), member in self.members.items():
                if lid == list_id:
                    counts[member.status] += 1
        return {
            "id": list_id,
            "name": self.lists[list_id].name,
            "marketing_permissions": bool(self.lists[list_id].permissions),
            "stats": {
                "member_count": counts["subscribed"],
                "unsubscribe_count": counts["unsubscribed"],
                "cleaned_count": counts["cleaned"],
            },
        }

    def _member_row(self, list_id: str, member_hash: str, member: Member) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": member_hash,
            "email_address": member.email,
            "status": member.status,
            "interests": {
                iid: member.interests.get(iid, False) for iid in sorted(self.lists[list_id].interest_ids())
            },
            "last_changed": member.last_changed,
            "list_id": list_id,
        }
        if self.lists[list_id].permissions:
            row["marketing_permissions"] = [
                {"marketing_permission_id": pid, "text": text, "enabled": member.permissions.get(pid, False)}
                for pid, text in sorted(self.lists[list_id].permissions.items())
            ]
        return row

    def _batch(self, request: Request, list_id: str) -> Response:
        body = self._json_body(request)
        invalid = []
        members = body.get("members") if isinstance(body, dict) else None
        if not isinstance(members, list):
            invalid.append({"field": "members", "message": "Required field missing or not an array."})
        elif len(members) > 500:
            invalid.append({"field": "members", "message": "Schema describes array, max 500 items."})
        for flag in ("update_existing", "sync_tags"):
            if isinstance(body, dict) and flag in body and not isinstance(body[flag], bool):
                invalid.append({"field": flag, "message": "Schema describes boolean."})
        for index, row in enumerate(members if isinstance(members, list) else []):
            where = f"members[{index}]"
            if not isinstance(row, dict) or not isinstance(row.get("email_address"), str):
                invalid.append({"field": f"{where}.email_address", "message": "Required field missing."})
                continue
            if "status" not in row and "status_if_new" not in row:
                invalid.append({"field": f"{where}.status", "message": "Required field missing."})
            invalid += self._row_problems(row, f"{where}.")
        if invalid:
            raise Refusal(400, "Invalid Resource", INVALID, invalid)
        assert isinstance(body, dict)
        assert isinstance(members, list)
        update = body.get("update_existing", False)
        created, updated, errors = [], [], []
        with self._lock:
            seen: set[str] = set()
            for row in members:
                error = self._upsert(list_id, row, update=update, seen=seen)
                if isinstance(error, dict):
                    errors.append(error)
                elif error == "created":
                    created.append(row["email_address"])
                else:
                    updated.append(row["email_address"])
            self.requests.append({"path": request.path, "body": body})
        answer = {
            "new_members": [{"email_address": e} for e in created],
            "updated_members": [{"email_address": e} for e in updated],
            "errors": errors,
            "total_created": len(created),
            "total_updated": len(updated),
            "error_count": len(errors),
        }
        return Response(json.dumps(answer), content_type="application/json")

    def _upsert(
        self, list_id: str, row: dict[str, Any], *, update: bool, seen: set[str]
    ) -> str | dict[str, str]:
        """One member of a batch-subscribe call: "created" | "updated" | its entry in `errors`."""
        email = row["email_address"]

        def refuse(message: str, code: str = "ERROR_GENERIC", field_name: str = "") -> dict[str, str]:
            return {
                "email_address": email,
                "error": message,
                "error_code": code,
                "field": field_name,
                "field_message": "",
            }

        member_hash = subscriber_hash(email)
        if EMAIL.match(email) and member_hash in seen:
            return refuse(f"{email} is a duplicate in this request.")
        seen.add(member_hash)
        member = self.members.get((list_id, member_hash))
        if member is not None and not update:
            return refuse(f"{email} is already a list member.", code="ERROR_CONTACT_EXISTS")
        problem = self._member_problem(list_id, row, member)
        if problem is not None:
            _, message, field_name = problem
            return refuse(message, field_name=field_name)
        outcome = self._member_write(list_id, member_hash, row, member)
        self.writes.append(("batch", list_id, member_hash))
        return outcome

    def _member_problem(
        self, list_id: str, row: dict[str, Any], member: Member | None
    ) -> tuple[str, str, str] | None:
        """Why Mailchimp refuses this member body (title, message, field), or None."""
        email = row["email_address"]
        if not EMAIL.match(email):
            return (
                "Invalid Resource",
                f"{email} looks fake or invalid, please enter a real email address.",
                "email_address",
            )
        if member is None and (list_id, subscriber_hash(email)) in self.forgotten:
            return ("Forgotten Email Not Subscribed", FORGOTTEN.format(email=email), "")
        fake_list = self.lists[list_id]
        interests = row.get("interests") or {}
        unknown = sorted(set(interests) - fake_list.interest_ids())
        if unknown:
            return ("Invalid Resource", f"Invalid interest ID: '{unknown[0]}'.", "interests")
        permissions = {
            p["marketing_permission_id"]: p["enabled"] for p in row.get("marketing_permissions") or []
        }
        if permissions and not fake_list.permissions:
            return (
                "Invalid Resource",
                "This list does not have marketing permissions enabled.",
                "marketing_permissions",
            )
        unknown = sorted(set(permissions) - set(fake_list.permissions))
        if unknown:
            return (
                "Invalid Resource",
                f"Invalid marketing permission ID: '{unknown[0]}'.",
                "marketing_permissions",
            )
        status = self._status(row, member)
        if (
            member is not None
            and status == "subscribed"
            and member.status != "subscribed"
            and member.compliance
        ):
            return ("Member In Compliance State", COMPLIANT.format(email=email), "")
        return None

    @staticmethod
    def _status(row: dict[str, Any], member: Member | None) -> str:
        if member is None:
            return str(row.get("status_if_new", row.get("status")))
        return str(row.get("status", member.status))

    def _member_write(
        self, list_id: str, member_hash: str, row: dict[str, Any], member: Member | None
    ) -> str:
        status = self._status(row, member)
        outcome = "updated"
        if member is None:
            member = self.members[(list_id, member_hash)] = Member(email=row["email_address"], status=status)
            member.permissions = dict.fromkeys(self.lists[list_id].permissions, False)
            outcome = "created"
        if status != member.status:
            member.status = status
            if status == "subscribed":
                member.compliance = False
        member.interests.update(row.get("interests") or {})
        member.permissions.update(
            {p["marketing_permission_id"]: p["enabled"] for p in row.get("marketing_permissions") or []}
        )
        member.last_changed = _now()
        return outcome

    def _json_body(self, request: Request) -> Any:
        try:
            return json.loads(request.get_data(as_text=True))
        except ValueError as exc:
            raise Refusal(
                400, "JSON Parse Exception", "We encountered an unspecified JSON parsing error."
            ) from exc

    def _row_problems(self, row: Any, where: str) -> list[dict[str, str]]:
        """Schema problems of one member body (the batch call's and PUT's own)."""
        invalid: list[dict[str, str]] = []
        for key in ("status", "status_if_new"):
            if key in row and row[key] not in STATUSES:
                invalid.append({"field": f"{where}{key}", "message": "Value is not one of the enum values."})
        if "interests" in row and (
            not isinstance(row["interests"], dict)
            or any(not isinstance(v, bool) for v in row["interests"].values())
        ):
            invalid.append({"field": f"{where}interests", "message": "Schema describes object of booleans."})
        permissions = row.get("marketing_permissions", [])
        if not isinstance(permissions, list) or any(
            not isinstance(p, dict)
            or not isinstance(p.get("marketing_permission_id"), str)
            or not isinstance(p.get("enabled"), bool)
            for p in permissions
        ):
            invalid.append(
                {
                    "field": f"{where}marketing_permissions",
                    "message": "Each is {marketing_permission_id, enabled}.",
                }
            )
        return invalid

    def _put_member(self, request: Request, list_id: str, member_hash: str) -> Response:
        row = self._json_body(request)
        if not isinstance(row, dict):
            raise Refusal(
                400, "Invalid Resource", INVALID, [{"field": "", "message": "Schema describes object."}]
            )
        invalid = self._row_problems(row, "")
        with self._lock:
            member = self.members.get((list_id, member_hash))
            if member is None:
                for key in ("email_address", "status_if_new"):
                    if not isinstance(row.get(key), str):
                        invalid.append({"field": key, "message": "This value is required for a new member."})
            email = row.get("email_address")
            if isinstance(email, str) and subscriber_hash(email) != member_hash:
                invalid.append(
                    {"field": "email_address", "message": "The address does not match the subscriber hash."}
                )
            if invalid:
                raise Refusal(400, "Invalid Resource", INVALID, invalid)
            if member is not None and not isinstance(email, str):
                row = {**row, "email_address": member.email}
            problem = self._member_problem(list_id, row, member)
            if problem is not None:
                title, message, _ = problem
                raise Refusal(400, title, message)
            self._member_write(list_id, member_hash, row, member)
            self.writes.append(("put", list_id, member_hash))
            answer = self._member_row(list_id, member_hash, self.members[(list_id, member_hash)])
        return Response(json.dumps(answer), content_type="application/json")

    def _patch_member(self, request: Request, list_id: str, member_hash: str) -> Response:
        """ "Update list member": only what the body names changes; an `email_address` other than
        the member's moves the member to that address (its hash changes with it), unless the
        list already has a member there ("Member Exists")."""
        row = self._json_body(request)
        if not isinstance(row, dict):
            raise Refusal(
                400, "Invalid Resource", INVALID, [{"field": "", "message": "Schema describes object."}]
            )
        invalid = self._row_problems(row, "")
        if "email_address" in row and not isinstance(row["email_address"], str):
            invalid.append({"field": "email_address", "message": "Schema describes string."})
        if invalid:
            raise Refusal(400, "Invalid Resource", INVALID, invalid)
        with self._lock:
            member = self.members.get((list_id, member_hash))
            if member is None:
                raise self._not_found()
            email = row.get("email_address", member.email)
            new_hash = subscriber_hash(email)
            if new_hash != member_hash:
                if (list_id, new_hash) in self.members:
                    raise Refusal(400, "Member Exists", f"{email} is already a list member. {MEMBER_EXISTS}")
                if (list_id, new_hash) in self.forgotten:
                    raise Refusal(400, "Forgotten Email Not Subscribed", FORGOTTEN.format(email=email))
            problem = self._member_problem(list_id, {**row, "email_address": email}, member)
            if problem is not None:
                title, message, _ = problem
                raise Refusal(400, title, message)
            if new_hash != member_hash:
                del self.members[(list_id, member_hash)]
                member.email = email
                self.members[(list_id, new_hash)] = member
            self._member_write(list_id, new_hash, {**row, "email_address": email}, member)
            self.writes.append(("patch", list_id, member_hash))
            answer = self._member_row(list_id, new_hash, member)
        return Response(json.dumps(answer), content_type="application/json")

    def _delete_permanent(self, list_id: str, member_hash: str) -> Response:
        with self._lock:
            if (list_id, member_hash) not in self.members:
                raise self._not_found()
            del self.members[(list_id, member_hash)]
            self.forgotten.add((list_id, member_hash))
            self.writes.append(("delete-permanent", list_id, member_hash))
        return Response(status=204)

    # --- batch operations ----------------------------------------------------------------------

    def _batch_row(self, batch: FakeBatch) -> dict[str, Any]:
        url = (
            f"{self.base_url}/batch-results/{batch.id}.tar.gz?signature={batch.token}"
            if batch.status == "finished"
            else ""
        )
        return {
            "id": batch.id,
            "status": batch.status,
            "total_operations": len(batch.operations),
            "finished_operations": batch.finished_operations,
            "errored_operations": batch.errored_operations,
            "submitted_at": batch.submitted_at,
            "completed_at": batch.completed_at,
            "response_body_url": url,
            "_links": [],
        }

    def _batches_call(self, request: Request, rest: list[str]) -> Response:
        if request.method == "POST" and not rest:
            return self._batch_submit(request)
        if request.method == "GET" and len(rest) == 1:
            with self._lock:
                batch = self.batches.get(rest[0])
                if batch is None:
                    raise self._not_found()
                row = self._batch_row(batch)
            return Response(json.dumps(row), content_type="application/json")
        if request.method == "GET" and not rest:
            with self._lock:
                rows = [self._batch_row(b) for b in self.batches.values()]
            return self._page(request, rows, "batches")
        if request.method == "DELETE" and len(rest) == 1:
            with self._lock:
                batch = self.batches.pop(rest[0], None)
                if batch is None:
                    raise self._not_found()
                batch.cancelled = True  # the runner stops before its next operation
            return Response(status=204)
        raise Refusal(405, "Method Not Allowed", "The requested method and resource are not compatible.")

    def _batch_submit(self, request: Request) -> Response:
        body = self._json_body(request)
        operations = body.get("operations") if isinstance(body, dict) else None
        invalid: list[dict[str, str]] = []
        if not isinstance(operations, list):
            invalid.append({"field": "operations", "message": "Required field missing or not an array."})
        for index, op in enumerate(operations if isinstance(operations, list) else []):
            where = f"operations[{index}]"
            if not isinstance(op, dict):
                invalid.append({"field": where, "message": "Schema describes object."})
                continue
            if op.get("method") not in METHODS:
                invalid.append(
                    {"field": f"{where}.method", "message": "Value is not one of the enum values."}
                )
            path = op.get("path")
            if not isinstance(path, str) or not path.startswith("/") or "://" in path:
                invalid.append({"field": f"{where}.path", "message": "A relative path is required."})
            for key in ("body", "operation_id"):
                if key in op and not isinstance(op[key], str):
                    invalid.append({"field": f"{where}.{key}", "message": "Schema describes string."})
            if "params" in op and not isinstance(op["params"], dict):
                invalid.append({"field": f"{where}.params", "message": "Schema describes object."})
        if invalid:
            raise Refusal(400, "Invalid Resource", INVALID, invalid)
        assert isinstance(operations, list)
        batch = FakeBatch(id=uuid.uuid4().hex[:10], operations=operations)
        with self._lock:
            self.batches[batch.id] = batch
            row = self._batch_row(batch)
        self._queue.put(batch.id)
        return Response(json.dumps(row), content_type="application/json")

    def _set_status(self, batch: FakeBatch, status: str) -> None:
        with self._lock:
            batch.status = status
            batch.history.append(status)
            if status == "finished":
                batch.completed_at = _now()

    def _batch_runner(self) -> None:
        """Mailchimp's side: one batch at a time, in the order submitted."""
        while True:
            batch_id = self._queue.get()
            if not batch_id:
                return
            with self._lock:
                batch = self.batches.get(batch_id)
            if self.hold is not None:
                self.hold.wait()
            if batch is None or batch.cancelled:
                continue  # deleted before it ran
            self._step()
            self._set_status(batch, "preprocessing")
            self._step()
            self._set_status(batch, "started")
            for op in batch.operations:
                if batch.cancelled:
                    break
                status, answer = self._operation(op)
                with self._lock:
                    batch.finished_operations += 1
                    batch.errored_operations += 1 if status >= 400 else 0
                    batch.results.append(
                        {"status_code": status, "operation_id": op.get("operation_id"), "response": answer}
                    )
            self._step()
            self._set_status(batch, "finalizing")
            batch.archive = _archive(batch.id, batch.results)
            self._step()
            self._set_status(batch, "finished")

    def _step(self) -> None:
        if self.batch_step:
            time.sleep(self.batch_step)

    def _operation(self, op: dict[str, Any]) -> tuple[int, str]:
        """One operation, run as the same call made directly (without a connection of its own)."""
        environ = EnvironBuilder(
            path="/3.0" + op["path"],
            method=op["method"],
            query_string={k: str(v) for k, v in (op.get("params") or {}).items()},
            data=op.get("body", "").encode(),
            content_type="application/json",
        ).get_environ()
        try:
            response = self._handle(Request(environ))
        except Refusal as refusal:
            response = self._problem(refusal)
        return response.status_code, response.get_data(as_text=True)

    def _archive(self, request: Request) -> Response:
        name = request.path.rsplit("/", 1)[-1]
        batch = self.batches.get(name.removesuffix(".tar.gz"))
        if batch is None or batch.status != "finished" or request.args.get("signature") != batch.token:
            return Response(
                "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
                status=403,
                content_type="application/xml",
            )
        return Response(batch.archive, content_type="application/x-gzip")


def _archive(batch_id: str, results: list[dict[str, Any]]) -> bytes:
    """The results as Mailchimp stores them: a gzipped tar of JSON files, each a list of rows."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for index, start in enumerate(range(0, len(results), RESULTS_PER_FILE)):
            data = json.dumps(results[start : start + RESULTS_PER_FILE]).encode()
            info = tarfile.TarInfo(name=f"{batch_id}/{uuid.uuid4().hex}-{index}.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


def webhook_form(
    type: str, *, list_id: str, email: str, extra: dict[str, str] | None = None, fired_at: str | None = None
) -> dict[str, str]:
    """The form Mailchimp posts for one list event (`data[...]` keys, `fired_at` in GMT)."""
    form = {
        "type": type,
        "fired_at": fired_at or datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "data[id]": uuid.uuid4().hex[:10],
        "data[list_id]": list_id,
        "data[email]": email,
        "data[email_type]": "html",
        "data[merges][EMAIL]": email,
        "data[ip_opt]": "198.51.100.7",
    }
    for key, value in (extra or {}).items():
        form[f"data[{key}]"] = value
    return form


def webhook_body(form: dict[str, str]) -> bytes:
    return urlencode(form).encode()


def webhook_post(url: str, form: dict[str, str]) -> httpx.Response:
    """Deliver the form as Mailchimp does: POST, application/x-www-form-urlencoded."""
    return httpx.post(
        url,
        content=webhook_body(form),
        headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "MailChimp"},
        timeout=10,
    )
