"""A local fake of Klaviyo's REST API: the endpoints the connector uses, as Klaviyo documents them.

Sources (read, not copied): Klaviyo's published OpenAPI description, github.com/klaviyo/openapi,
openapi/stable/apis/bulk_subscribe_profiles.json, bulk_unsubscribe_profiles.json, get_lists.json,
get_profiles.json and get_profiles_for_list.json (revision 2026-07-15), and the API reference
at developers.klaviyo.com/en/reference/ (api_overview: authentication, the revision header,
JSON:API errors, rate limits).

- `Authorization: Klaviyo-API-Key <key>`: missing or malformed is 401 `not_authenticated`, an
  unknown key 403 `permission_denied`; the `revision` header is required (400 otherwise);
  errors are `{"errors": [{"id", "status", "code", "title", "detail", "source"}]}`.
- `GET /api/lists`: 10 a page at most (`page[size]` 1 to 10), `links.next` with `page[cursor]`.
- `POST /api/profile-subscription-bulk-create-jobs`: the JSON:API type, at most 1000 profiles,
  `subscriptions` required, consent `SUBSCRIBED`, `consented_at` only with `historical_import`
  true, an email for the email channel and an E.164 phone for SMS, a list that exists; 202.
- `POST /api/profile-subscription-bulk-delete-jobs`: at most 100 profiles, consent
  `UNSUBSCRIBED`; the list is optional: without one, or for a profile not in the given list, the
  channel is unsubscribed globally (Klaviyo's warning).
- `DELETE /api/lists/{id}/relationships/profiles` (remove_profiles_from_list.json): `{"data":
  [{"type": "profile", "id"}]}`, at most 1000, 204; the profiles leave the list, their consent
  unchanged. Its own rate limits: burst 10/s, steady 150/m.
- `POST /api/data-privacy-deletion-jobs` (request_profile_deletion.json): type
  `data-privacy-deletion-job`, `attributes.profile.data` a profile with exactly one of `email`,
  `phone_number` or `id` (more than one is a 400); 202, every matching profile deleted (at once
  here; Klaviyo does it shortly after). Its own rate limits: burst 3/s, steady 60/m.
- `GET /api/profiles` (profiles:read) and `GET /api/lists/{id}/profiles` (lists:read): JSON:API
  pages of `profile` resources, `page[size]` 1 to 100 (default 20), `links.next` with
  `page[cursor]`; `filter` takes `equals(field,"v")` or `any(field,["v", …])` on the fields the
  spec allows (profiles: id, email, phone_number, external_id; a list's: email, phone_number),
  anything else is a 400 naming the `filter` parameter; `additional-fields[profile]=subscriptions`
  adds `subscriptions.email.marketing` (consent, can_receive_email_marketing, list_suppressions
  [{list_id, reason, timestamp}], suppression) and `subscriptions.sms.marketing` (consent,
  can_receive_sms_marketing). Consent reads SUBSCRIBED, UNSUBSCRIBED or NEVER_SUBSCRIBED. The
  fake caps `any` at 100 values (the page size; the connector never sends more).
- Rate limits: steady and burst windows per key (75/s, 750/min by default; smaller ones can be
  set), then 429 with Retry-After; `throttle(n)` answers the next n job calls 429 whatever the
  window; `latency` adds seconds to every call.

State: per (list, channel) the profiles subscribed, and per profile and channel the consent.
A profile is known by its email or phone (Klaviyo merges on either; one identifier each here).
An unsubscribe job with a list removes a member from that list: for email Klaviyo keeps that as
a list suppression (reason USER_SUPPRESSED), for SMS consent is per account, so the profile's SMS
consent becomes UNSUBSCRIBED. A subscribe job lifts the list's suppression. The `drift_*`
helpers change the state behind Candor's back, as an import or a click in Klaviyo would.
"""

from __future__ import annotations

import ast
import json
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

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
    # email -> list ids it was unsubscribed from (Klaviyo's list_suppressions).
    list_suppressions: dict[str, dict[str, str]] = field(default_factory=dict)
    # identifier -> Klaviyo's profile id, for every profile a job or a drift created.
    profiles: dict[str, str] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    # Every call answered 2xx, as (method, path): what the reconciler did besides reading.
    calls: list[tuple[str, str]] = field(default_factory=list)
    jobs_accepted: int = 0
    _throttle: int = 0
    _calls: deque[float] = field(default_factory=deque)
    _removals: deque[float] = field(default_factory=deque)
    _deletions: deque[float] = field(default_factory=deque)
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

    # --- drift, behind Candor's back ---------------------------------------------------------

    def drift_subscribe(self, list_id: str, identifier: str, channel: str = "email") -> None:
        """An import (or a form) put the profile in the list, subscribed."""
        with self._lock:
            self._profile(identifier)
            self.members.setdefault((list_id, channel), set()).add(identifier)
            self.consent[(identifier, channel)] = "SUBSCRIBED"
            self.list_suppressions.get(identifier, {}).pop(list_id, None)

    def drift_unsubscribe(self, identifier: str, channel: str = "email", list_id: str | None = None) -> None:
        """The person unsubscribed inside Klaviyo: from one list (email), or globally."""
        with self._lock:
            self._profile(identifier)
            if list_id is not None:
                self.members.get((list_id, channel), set()).discard(identifier)
            if list_id is not None and channel == "email":
                self.list_suppressions.setdefault(identifier, {})[list_id] = _now()
            else:
                self.consent[(identifier, channel)] = "UNSUBSCRIBED"

    def forget(self, identifier: str) -> None:
        """The profile was deleted in Klaviyo."""
        with self._lock:
            self.profiles.pop(identifier, None)
            for members in self.members.values():
                members.discard(identifier)
            for key in [key for key in self.consent if key[0] == identifier]:
                del self.consent[key]
                self.consented_at.pop(key, None)
            self.list_suppressions.pop(identifier, None)

    def _profile(self, identifier: str) -> str:
        return self.profiles.setdefault(identifier, "01" + uuid.uuid4().hex[:24].upper())

    # --- the API -------------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if self.latency:
            time.sleep(self.latency)
        try:
            response = self._handle(request)
        except Refusal as refusal:
            response = self._error(refusal)
        else:
            with self._lock:
                self.calls.append((request.method, request.path.rstrip("/")))
        return response(environ, start_response)

    def _error(self, refusal: Refusal) -> Response:
        error: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "status": refusal.status,
            "code": refusal.code,
            "title": refusal.title,
            "detail": refusal.detail,
            "source": {"pointer": refusal.pointer}
            if refusal.pointer
            else {"parameter": refusal.parameter}
            if getattr(refusal, "parameter", None)
            else {},
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

    def _rate(self, job: bool, *, removal: bool = False, deletion: bool = False) -> None:
        now = time.monotonic()
        calls, burst, steady = (
            (self._removals, 10, 150)
            if removal
            else (self._deletions, 3, 60)
            if deletion
            else (self._calls, self.burst_per_second, self.steady_per_minute)
        )
        with self._lock:
            if job and self._throttle > 0:
                self._throttle -= 1
                raise Refusal(
                    429,
                    "throttled",
                    "Request was throttled.",
                    "Request was throttled. Expected available in 1 second.",
                )
            while calls and calls[0] < now - 60:
                calls.popleft()
            last_second = sum(1 for at in calls if at >= now - 1)
            if last_second >= burst or len(calls) >= steady:
                raise Refusal(
                    429,
                    "throttled",
                    "Request was throttled.",
                    "Request was throttled. Expected available in 1 second.",
                )
            calls.append(now)

    def _handle(self, request: Request) -> Response:
        self._authenticate(request)
        path = request.path.rstrip("/")
        if request.method == "GET" and path == "/api/lists":
            self._rate(job=False)
            return self._lists(request)
        if request.method == "GET" and path == "/api/profiles":
            self._rate(job=False)
            return self._profiles_page(request, list_id=None)
        member_path = re.fullmatch(r"/api/lists/([^/]+)/profiles", path)
        if request.method == "GET" and member_path:
            self._rate(job=False)
            if member_path.group(1) not in self.lists:
                raise Refusal(404, "not_found", "Not found.", f"List {member_path.group(1)} does not exist.")
            return self._profiles_page(request, list_id=member_path.group(1))
        removal_path = re.fullmatch(r"/api/lists/([^/]+)/relationships/profiles", path)
        if request.method == "DELETE" and removal_path:
            self._rate(job=True, removal=True)
            return self._remove_from_list(request, removal_path.group(1))
        if request.method == "POST" and path == "/api/data-privacy-deletion-jobs":
            self._rate(job=True, deletion=True)
            return self._delete_profile(request)
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

    def _remove_from_list(self, request: Request, list_id: str) -> Response:
        if list_id not in self.lists:
            raise Refusal(404, "not_found", "Not found.", f"List {list_id} does not exist.")
        try:
            body = json.loads(request.get_data(as_text=True))
        except ValueError as exc:
            raise Refusal(400, "parse_error", "Malformed request.", "The body is not JSON.") from exc
        rows = body.get("data") if isinstance(body, dict) else None
        if not isinstance(rows, list) or not rows:
            raise Refusal(400, "invalid", "Invalid input.", "data is required.", "/data")
        if len(rows) > 1000:
            raise Refusal(400, "invalid", "Invalid input.", "At most 1000 profiles per call.", "/data")
        ids = set()
        for index, row in enumerate(rows):
            if (
                not isinstance(row, dict)
                or row.get("type") != "profile"
                or not isinstance(row.get("id"), str)
            ):
                raise Refusal(
                    400,
                    "invalid",
                    "Invalid input.",
                    "Each item needs type profile and an id.",
                    f"/data/{index}",
                )
            ids.add(row["id"])
        with self._lock:
            self.requests.append({"path": request.path, "method": "DELETE", "body": body})
            by_id = {profile_id: identifier for identifier, profile_id in self.profiles.items()}
            for (member_list, _channel), members in self.members.items():
                if member_list == list_id:
                    members.difference_update({by_id[i] for i in ids if i in by_id})
        return Response(b"", status=204)

    def _delete_profile(self, request: Request) -> Response:
        try:
            body = json.loads(request.get_data(as_text=True))
        except ValueError as exc:
            raise Refusal(400, "parse_error", "Malformed request.", "The body is not JSON.") from exc
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or data.get("type") != "data-privacy-deletion-job":
            raise Refusal(
                400, "invalid", "Invalid input.", "data.type must be data-privacy-deletion-job.", "/data/type"
            )
        profile = ((data.get("attributes") or {}).get("profile") or {}).get("data")
        attributes = profile.get("attributes") if isinstance(profile, dict) else None
        if (
            not isinstance(profile, dict)
            or profile.get("type") != "profile"
            or not isinstance(attributes, dict)
        ):
            raise Refusal(
                400, "invalid", "Invalid input.", "profile.data is required.", "/data/attributes/profile/data"
            )
        given = {
            key: value
            for key, value in attributes.items()
            if key in ("email", "phone_number", "id") and value
        }
        if len(given) != 1:
            raise Refusal(
                400,
                "invalid",
                "Invalid input.",
                "Exactly one of email, phone_number or id identifies the profile.",
                "/data/attributes/profile/data/attributes",
            )
        [(key, value)] = given.items()
        with self._lock:
            self.requests.append({"path": request.path, "body": body})
            matches = [
                identifier
                for identifier, profile_id in self.profiles.items()
                if (profile_id if key == "id" else identifier.lower())
                == (value if key == "id" else str(value).lower())
            ]
        for identifier in matches:
            self.forget(identifier)
        return Response(b"", status=202)

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

    def _profiles_page(self, request: Request, *, list_id: str | None) -> Response:
        size_raw = request.args.get("page[size]", "20")
        if not size_raw.isdigit() or not 1 <= int(size_raw) <= 100:
            raise Refusal(
                400, "invalid", "Invalid input.", "page[size] must be from 1 to 100.", "/parameter/page[size]"
            )
        extra = request.args.get("additional-fields[profile]", "")
        wanted = [value for value in extra.split(",") if value]
        if any(value not in ("subscriptions", "predictive_analytics") for value in wanted):
            raise Refusal(
                400,
                "invalid",
                "Invalid input.",
                f"Invalid additional-fields[profile]: {extra}.",
                "/parameter/additional-fields[profile]",
            )
        allowed = ("email", "phone_number") if list_id else ("id", "email", "phone_number", "external_id")
        field_name, values = _filter(request.args.get("filter"), allowed)
        size, cursor = int(size_raw), request.args.get("page[cursor]", "0")
        start = int(cursor) if cursor.isdigit() else 0
        with self._lock:
            if list_id is not None:
                pool = {
                    identifier
                    for (member_list, _channel), members in self.members.items()
                    if member_list == list_id
                    for identifier in members
                }
            else:
                pool = set(self.profiles)
            rows = sorted(identifier for identifier in pool if identifier in self.profiles)
            if field_name is not None:
                # Klaviyo matches addresses whatever their case.
                wanted_values = {value.lower() for value in values}
                rows = [r for r in rows if (self._field(r, field_name) or "").lower() in wanted_values]
            page = [
                self._resource(r, subscriptions="subscriptions" in wanted) for r in rows[start : start + size]
            ]
        base = request.base_url
        links: dict[str, Any] = {"self": base}
        if start + size < len(rows):
            query = {key: value for key, value in request.args.items() if key != "page[cursor]"}
            query["page[cursor]"] = str(start + size)
            links["next"] = base + "?" + urlencode(query)
        return Response(json.dumps({"data": page, "links": links}), status=200, content_type=JSON_API)

    def _field(self, identifier: str, name: str) -> str | None:
        if name == "id":
            return self.profiles[identifier]
        if name == "email":
            return identifier if "@" in identifier else None
        if name == "phone_number":
            return identifier if identifier.startswith("+") else None
        return None  # external_id: the connector does not set one

    def _resource(self, identifier: str, *, subscriptions: bool) -> dict[str, Any]:
        email = identifier if "@" in identifier else None
        phone = identifier if identifier.startswith("+") else None
        attributes: dict[str, Any] = {"email": email, "phone_number": phone, "external_id": None}
        if subscriptions:
            email_consent = (
                self.consent.get((identifier, "email"), "NEVER_SUBSCRIBED") if email else "NEVER_SUBSCRIBED"
            )
            sms_consent = (
                self.consent.get((identifier, "sms"), "NEVER_SUBSCRIBED") if phone else "NEVER_SUBSCRIBED"
            )
            suppressions = [
                {"list_id": list_id, "reason": "USER_SUPPRESSED", "timestamp": at}
                for list_id, at in sorted(self.list_suppressions.get(identifier, {}).items())
            ]
            attributes["subscriptions"] = {
                "email": {
                    "marketing": {
                        "can_receive_email_marketing": email_consent == "SUBSCRIBED",
                        "consent": email_consent,
                        "consent_timestamp": self.consented_at.get((identifier, "email")),
                        "list_suppressions": suppressions,
                        "suppression": [],
                    }
                },
                "sms": {
                    "marketing": {
                        "can_receive_sms_marketing": sms_consent == "SUBSCRIBED",
                        "consent": sms_consent,
                        "consent_timestamp": self.consented_at.get((identifier, "sms")),
                    }
                },
            }
        return {"type": "profile", "id": self.profiles[identifier], "attributes": attributes}

    def _job_plan(self, body: Any, kind: str) -> tuple[str | None, list[tuple[str, str, str | None]]]:
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
        relationships = data.get("relationships")
        relation = (relationships or {}).get("list", {}).get("data") if relationships is not None else None
        if relationships is not None and (
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
        list_id = relation["id"] if isinstance(relation, dict) else None
        if list_id is not None and list_id not in self.lists:
            raise Refusal(404, "not_found", "Not found.", f"List {list_id} does not exist.")
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
        return list_id, plan

    def _apply(self, plan: tuple[str | None, list[tuple[str, str, str | None]]], *, subscribe: bool) -> None:
        list_id, rows = plan
        for identifier, channel, at in rows:
            self._profile(identifier)
            members = self.members.setdefault((list_id, channel), set()) if list_id else set()
            if subscribe:
                members.add(identifier)
                self.consent[(identifier, channel)] = "SUBSCRIBED"
                if list_id:
                    self.list_suppressions.get(identifier, {}).pop(list_id, None)
                if at:
                    self.consented_at[(identifier, channel)] = at
            elif list_id and identifier in members and channel == "email":
                members.discard(identifier)
                self.list_suppressions.setdefault(identifier, {})[list_id] = _now()
            else:
                # No list, not in the list (Klaviyo's warning: then global), or SMS (consent per
                # account): the channel is unsubscribed.
                members.discard(identifier)
                self.consent[(identifier, channel)] = "UNSUBSCRIBED"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())


FILTER = re.compile(r"^(equals|any)\((\w+),(.+)\)$", re.DOTALL)


def _filter(raw: str | None, allowed: tuple[str, ...]) -> tuple[str | None, set[str]]:
    """(field, values) of one `equals`/`any` filter, as Klaviyo's filter syntax writes them."""
    if raw is None:
        return None, set()

    def refuse(detail: str) -> Refusal:
        return Refusal(400, "invalid", "Invalid input.", detail, None)

    found = FILTER.match(raw.strip())
    if not found:
        raise _parameter(refuse(f"Invalid filter provided: {raw[:100]}"))
    operator, name, literal = found.groups()
    if name not in allowed:
        raise _parameter(refuse(f"'{name}' is not a valid field for the resource 'profile'."))
    try:
        value = ast.literal_eval(literal.strip())
    except (ValueError, SyntaxError) as exc:
        raise _parameter(refuse(f"Invalid filter value: {literal[:100]}")) from exc
    if operator == "equals":
        if not isinstance(value, str):
            raise _parameter(refuse("equals takes one string."))
        return name, {value}
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _parameter(refuse("any takes a list of strings."))
    if len(value) > 100:
        raise _parameter(refuse("any takes at most 100 values."))
    return name, set(value)


def _parameter(refusal: Refusal) -> Refusal:
    refusal.pointer = None
    refusal.parameter = "filter"  # type: ignore[attr-defined]
    return refusal
