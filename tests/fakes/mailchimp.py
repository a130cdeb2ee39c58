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
- Webhooks: `person_unsubscribes` / `bounces` change the member as Mailchimp would and return
  the form Mailchimp posts (`webhook_form`); `webhook_post` sends it, form-encoded, to a URL.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
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

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
ERRORS_DOC = "https://mailchimp.com/developer/marketing/docs/errors/"
PROBLEM = "application/problem+json; charset=utf-8"
INVALID = "The resource submitted could not be validated. For field-specific details, see the 'errors' array."
KEY = "0123456789abcdef0123456789abcdef-us21"


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
    _throttle: int = 0
    _in_flight: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: Any = None
    base_url: str = ""

    # --- running ---------------------------------------------------------------------------

    def start(self) -> str:
        self._server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()

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
        try:
            if self.down:
                raise Refusal(503, "Service Unavailable", "The service is temporarily unavailable.")
            key = self._authenticate(request)
            self._connect(key, batch=request.method == "POST")
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

    def _connect(self, key: str, *, batch: bool) -> None:
        with self._lock:
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
        if request.method == "GET" and parts == ["lists"]:
            rows = [self._list_row(list_id) for list_id in sorted(self.lists)]
            return self._page(request, rows, "lists")
        if len(parts) < 2 or parts[0] != "lists" or parts[1] not in self.lists:
            raise self._not_found()
        list_id, rest = parts[1], parts[2:]
        fake_list = self.lists[list_id]
        if request.method == "POST" and not rest:
            return self._batch(request, list_id)
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
        try:
            body = json.loads(request.get_data(as_text=True))
        except ValueError as exc:
            raise Refusal(
                400, "JSON Parse Exception", "We encountered an unspecified JSON parsing error."
            ) from exc
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
            for key in ("status", "status_if_new"):
                if key in row and row[key] not in STATUSES:
                    invalid.append(
                        {"field": f"{where}.{key}", "message": "Value is not one of the enum values."}
                    )
            if "interests" in row and (
                not isinstance(row["interests"], dict)
                or any(not isinstance(v, bool) for v in row["interests"].values())
            ):
                invalid.append(
                    {"field": f"{where}.interests", "message": "Schema describes object of booleans."}
                )
            permissions = row.get("marketing_permissions", [])
            if not isinstance(permissions, list) or any(
                not isinstance(p, dict)
                or not isinstance(p.get("marketing_permission_id"), str)
                or not isinstance(p.get("enabled"), bool)
                for p in permissions
            ):
                invalid.append(
                    {
                        "field": f"{where}.marketing_permissions",
                        "message": "Each is {marketing_permission_id, enabled}.",
                    }
                )
        if invalid:
            raise Refusal(
                400,
                "Invalid Resource",
                INVALID,
                invalid,
            )
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
        email = row["email_address"]

        def refuse(message: str, code: str = "ERROR_GENERIC", field_name: str = "") -> dict[str, str]:
            return {
                "email_address": email,
                "error": message,
                "error_code": code,
                "field": field_name,
                "field_message": "",
            }

        if not EMAIL.match(email):
            return refuse(
                f"{email} looks fake or invalid, please enter a real email address.",
                field_name="email_address",
            )
        member_hash = subscriber_hash(email)
        if member_hash in seen:
            return refuse(f"{email} is a duplicate in this request.")
        seen.add(member_hash)
        fake_list = self.lists[list_id]
        interests = row.get("interests") or {}
        unknown = sorted(set(interests) - fake_list.interest_ids())
        if unknown:
            return refuse(f"Invalid interest ID: '{unknown[0]}'.", field_name="interests")
        permissions = {
            p["marketing_permission_id"]: p["enabled"] for p in row.get("marketing_permissions") or []
        }
        if permissions and not fake_list.permissions:
            return refuse(
                "This list does not have marketing permissions enabled.", field_name="marketing_permissions"
            )
        unknown = sorted(set(permissions) - set(fake_list.permissions))
        if unknown:
            return refuse(
                f"Invalid marketing permission ID: '{unknown[0]}'.", field_name="marketing_permissions"
            )
        member = self.members.get((list_id, member_hash))
        if member is not None and not update:
            return refuse(f"{email} is already a list member.", code="ERROR_CONTACT_EXISTS")
        status = (
            row.get("status_if_new", row.get("status"))
            if member is None
            else row.get("status", member.status)
        )
        if (
            member is not None
            and status == "subscribed"
            and member.status != "subscribed"
            and member.compliance
        ):
            return refuse(
                f"{email} is in a compliance state due to unsubscribe, bounce, or compliance review "
                "and cannot be subscribed."
            )
        outcome = "updated"
        if member is None:
            member = self.members[(list_id, member_hash)] = Member(email=email, status=status)
            member.permissions = dict.fromkeys(fake_list.permissions, False)
            outcome = "created"
        if status != member.status:
            member.status = status
            if status == "subscribed":
                member.compliance = False
        member.interests.update(interests)
        member.permissions.update(permissions)
        member.last_changed = _now()
        return outcome


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
