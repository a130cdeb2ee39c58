"""A local fake of a Salesforce org's REST API: the endpoints the connector uses, as Salesforce
documents them (API version v62.0).

Sources (read, not copied):
- REST API Developer Guide (developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/):
  resources_composite_sobjects_collections_create.htm and …_update.htm (POST and PATCH
  /services/data/vXX.X/composite/sobjects: `{"allOrNone", "records": [{"attributes": {"type"},
  …}]}`, at most 200 records, a 400 for a malformed request, else 200 with one SaveResult
  `{"id", "success", "errors": [{"statusCode", "message", "fields"}]}` per record in order),
  records of several types are saved in chunks of consecutive records of one type, at most 10
  chunks a call (the message is the one Salesforce gives; its error code is not documented, the
  fake's INVALID_BATCH_REQUEST is a stand-in), resources_query.htm and dome_query.htm
  (GET …/query?q=: `{"totalSize", "done",
  "nextRecordsUrl"?, "records"}`, each record with `attributes.type` and `attributes.url`, the
  rest fetched from nextRecordsUrl), resources_sobject_describe.htm (GET
  …/sobjects/{type}/describe: `fields[]` with `name`, `type`, `externalId`, `idLookup`,
  `createable`, `updateable`), errorcodes.htm (errors are `[{"message", "errorCode",
  "fields"?}]`; 401 INVALID_SESSION_ID, 403 REQUEST_LIMIT_EXCEEDED, 400 MALFORMED_QUERY /
  INVALID_FIELD / INVALID_TYPE / JSON_PARSER_ERROR, 404 NOT_FOUND, 503 SERVER_UNAVAILABLE) and
  headers_api_usage.htm (`Sforce-Limit-Info: api-usage=n/max` on every response);
  resources_composite_sobjects_collections_delete.htm (DELETE …/composite/sobjects?ids=a,b&
  allOrNone=false: up to 200 ids of any types, a 400 for a malformed request, else 200 with one
  DeleteResult `{"id", "success", "errors"}` per id in the order given; a failed item's error
  names its statusCode, e.g. MALFORMED_ID, and carries no id) and the SOAP API's DeleteResult
  (sforce_api_calls_delete_result.htm). A deleted record goes to the Recycle Bin: queries no
  longer see it, and deleting or updating it again is ENTITY_IS_DELETED "entity is deleted". The
  error codes for no ids and for more than 200 are not documented on that page: the fake's
  MISSING_ARGUMENT and EXCEEDED_ID_LIMIT are stand-ins. Whether deleting a contact point
  cascades to its ContactPointConsents is not documented either: the fake takes the strict
  reading and refuses (DELETE_FAILED) to delete a record a live record's required reference
  names, so a client must delete the children first.
- Salesforce Help, "OAuth 2.0 Client Credentials Flow for Server-to-Server Integration" and
  "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration" (POST /services/oauth2/token,
  form-encoded; `grant_type=client_credentials` with client_id/client_secret, or
  `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` with an RS256 `assertion` whose `iss`
  is the client id, `sub` the username, `aud` https://login.salesforce.com (or test.) and `exp`
  within three minutes; errors `{"error", "error_description"}` with 400, e.g. invalid_client,
  invalid_grant, unsupported_grant_type). The answer has `access_token`, `instance_url`, `id`,
  `token_type`, `issued_at`, `signature`; no `expires_in` (the session lasts as the org's
  session timeout says).
- Object Reference (developer.salesforce.com/docs/atlas.en-us.object_reference.meta/
  object_reference/): sforce_api_objects_contact.htm and …_lead.htm (HasOptedOutOfEmail,
  DoNotCall, HasOptedOutOfFax, IndividualId; LastName required, Lead also Company),
  sforce_api_objects_individual.htm (LastName required; ShouldForget, "Forget this Individual",
  a boolean the org's own processes act on), sforce_api_objects_contactpointtypeconsent
  .htm (Name, PartyId, DataUsePurposeId, ContactPointType and CaptureContactPointType restricted
  picklists Email/MailingAddress/Phone/Social/Web, PrivacyConsentStatus NotSeen/Seen/OptIn/
  OptOut, CaptureDate, CaptureSource, EffectiveFrom), sforce_api_objects_datausepurpose.htm,
  sforce_api_objects_contactpointemail.htm (EmailAddress, an email field, required; ParentId the
  Individual or Account, required; Create and Update, so a contact point's address can be
  changed in place, its history kept in ContactPointEmailHistory where tracked),
  sforce_api_objects_contactpointphone.htm (TelephoneNumber required, likewise updatable;
  ParentId) and sforce_api_objects_contactpointconsent.htm (API 48.0+: Name;
  ContactPointId, required, a polymorphic reference to ContactPointEmail, ContactPointPhone,
  ContactPointAddress…; DataUsePurposeId; PrivacyConsentStatus and CaptureContactPointType the
  same restricted picklists; CaptureDate, CaptureSource, EffectiveFrom, EffectiveTo), with the
  field reference's types (salesforce_field_reference_ContactPointConsent). An email field
  written through the API must hold an address (INVALID_EMAIL_ADDRESS otherwise).
- The SOQL subset: tests/fakes/salesforce_soql.py.

Limits modelled: the org's daily API requests (`api_max`; past it 403 REQUEST_LIMIT_EXCEEDED
"TotalRequests Limit exceeded."), concurrent requests (`max_concurrent`; past it the same 403
with "ConcurrentPerOrgLongTxn Limit exceeded."), `outage(n)` (the next n API calls answer 503),
`expire_sessions()` (every issued token answers 401 INVALID_SESSION_ID) and `latency`.
`delete_refusals` (record id -> (statusCode, message)) makes one record's delete fail, as a
sharing rule or a trigger would.

State: `records[type][id]` as Salesforce would return them (datetimes as datetime objects, shown
as `2026-12-04T12:00:00.000+0000`; `deleted[type][id]`: the Recycle Bin); every write stamps
SystemModstamp and LastModifiedDate from a clock that only moves forward. `requests` keeps each
accepted API call (method, path, body or q, or a delete's ids).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from werkzeug import Request, Response
from werkzeug.serving import make_server

from tests.fakes.salesforce_soql import Condition, SoqlError, conditions, parse, predicate

VERSION = "v62.0"
PREFIX = f"/services/data/{VERSION}"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AUDIENCES = {"https://login.salesforce.com", "https://test.salesforce.com"}
CONTACT_POINT_TYPES = ["Email", "MailingAddress", "Phone", "Social", "Web"]
CONSENT_STATUSES = ["NotSeen", "Seen", "OptIn", "OptOut"]
ID_PREFIX = {
    "Contact": "003",
    "Lead": "00Q",
    "Individual": "0PK",
    "ContactPointTypeConsent": "0ZY",
    "DataUsePurpose": "0ZW",
    "ContactPointEmail": "9PE",
    "ContactPointPhone": "0OW",
    "ContactPointConsent": "0ZV",
}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class Field:
    type: str  # id | string | email | phone | boolean | datetime | reference | picklist
    required: bool = False  # on create
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    id_lookup: bool = False
    refers_to: str | tuple[str, ...] | None = None  # a tuple: a polymorphic reference
    values: list[str] | None = None  # a restricted picklist's


def _system() -> dict[str, Field]:
    return {
        "Id": Field("id", createable=False, updateable=False, id_lookup=True),
        "SystemModstamp": Field("datetime", createable=False, updateable=False),
        "LastModifiedDate": Field("datetime", createable=False, updateable=False),
    }


def _person() -> dict[str, Field]:
    return {
        **_system(),
        "FirstName": Field("string"),
        "LastName": Field("string", required=True),
        "Email": Field("email", id_lookup=True),
        "Phone": Field("phone"),
        "IndividualId": Field("reference", refers_to="Individual"),
        "HasOptedOutOfEmail": Field("boolean"),
        "DoNotCall": Field("boolean"),
        "HasOptedOutOfFax": Field("boolean"),
    }


def default_schema() -> dict[str, dict[str, Field]]:
    lead = _person()
    lead["Company"] = Field("string", required=True)
    return {
        "Contact": _person(),
        "Lead": lead,
        "Individual": {
            **_system(),
            "FirstName": Field("string"),
            "LastName": Field("string", required=True),
            "ShouldForget": Field("boolean"),
        },
        "DataUsePurpose": {**_system(), "Name": Field("string", required=True)},
        "ContactPointTypeConsent": {
            **_system(),
            "Name": Field("string", required=True),
            "PartyId": Field("reference", required=True, refers_to="Individual"),
            "DataUsePurposeId": Field("reference", refers_to="DataUsePurpose"),
            "ContactPointType": Field("picklist", values=CONTACT_POINT_TYPES),
            "CaptureContactPointType": Field("picklist", values=CONTACT_POINT_TYPES),
            "PrivacyConsentStatus": Field("picklist", values=CONSENT_STATUSES),
            "CaptureDate": Field("datetime"),
            "CaptureSource": Field("string"),
            "EffectiveFrom": Field("datetime"),
            "EffectiveTo": Field("datetime"),
        },
        "ContactPointEmail": {
            **_system(),
            "EmailAddress": Field("email", required=True),
            "ParentId": Field("reference", required=True, refers_to=("Individual",)),
        },
        "ContactPointPhone": {
            **_system(),
            "TelephoneNumber": Field("phone", required=True),
            "ParentId": Field("reference", required=True, refers_to=("Individual",)),
        },
        "ContactPointConsent": {
            **_system(),
            "Name": Field("string", required=True),
            "ContactPointId": Field(
                "reference", required=True, refers_to=("ContactPointEmail", "ContactPointPhone")
            ),
            "DataUsePurposeId": Field("reference", refers_to="DataUsePurpose"),
            "CaptureContactPointType": Field("picklist", values=CONTACT_POINT_TYPES),
            "PrivacyConsentStatus": Field("picklist", values=CONSENT_STATUSES),
            "CaptureDate": Field("datetime"),
            "CaptureSource": Field("string"),
            "EffectiveFrom": Field("datetime"),
            "EffectiveTo": Field("datetime"),
        },
    }


def _targets(f: Field) -> tuple[str, ...]:
    if f.refers_to is None:
        return ()
    return f.refers_to if isinstance(f.refers_to, tuple) else (f.refers_to,)


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


def sf_datetime(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


@dataclass
class FakeSalesforce:
    # Connected apps: client credentials (client_id -> secret) and JWT bearer (client_id ->
    # (username, the certificate's public key PEM)).
    clients: dict[str, str] = field(default_factory=lambda: {"3MVG9.candor.client": "s3cret-client-secret"})
    jwt_clients: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    api_max: int = 15000
    api_used: int = 0
    max_concurrent: int = 25
    page_size: int = 2000
    latency: float = 0.0
    schema: dict[str, dict[str, Field]] = field(default_factory=default_schema)
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    tokens_issued: int = 0
    # Validation rules: a write to one of these record ids fails with this message.
    validation_rules: dict[str, str] = field(default_factory=dict)
    # A delete of one of these record ids fails with this (statusCode, message).
    delete_refusals: dict[str, tuple[str, str]] = field(default_factory=dict)
    deleted: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    _tokens: set[str] = field(default_factory=set)
    _cursors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _down: int = 0
    _in_flight: int = 0
    _clock: datetime = field(default_factory=lambda: datetime(2000, 1, 1, tzinfo=UTC))
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _server: Any = None
    base_url: str = ""

    # --- running and test controls ------------------------------------------------------------

    def start(self) -> str:
        self._server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()

    def outage(self, calls: int) -> None:
        """The next `calls` API calls answer 503 (the org is down or in maintenance)."""
        with self._lock:
            self._down = calls

    def expire_sessions(self) -> None:
        """Every issued access token answers 401 INVALID_SESSION_ID from now on."""
        with self._lock:
            self._tokens.clear()

    def add_custom_field(self, sobject: str, name: str, *, external_id: bool = True) -> None:
        with self._lock:
            self.schema[sobject][name] = Field("string", external_id=external_id, id_lookup=external_id)

    def insert(self, sobject: str, **values: Any) -> str:
        """A record as an admin or an import would create it (not through the API: no API use)."""
        with self._lock:
            record_id = self._new_id(sobject)
            now = self._tick()
            row: dict[str, Any] = {name: None for name in self.schema[sobject]}
            for name, spec in self.schema[sobject].items():
                if spec.type == "boolean":
                    row[name] = False
            row.update(values, Id=record_id, SystemModstamp=now, LastModifiedDate=now)
            self.records.setdefault(sobject, {})[record_id] = row
            return record_id

    def edit(self, sobject: str, record_id: str, **values: Any) -> None:
        """A change made in Salesforce itself (a user, an import, a flow): stamps SystemModstamp."""
        with self._lock:
            rows = self.records[sobject]
            now = self._tick()
            rows[record_id] = {**rows[record_id], **values, "SystemModstamp": now, "LastModifiedDate": now}

    def find(self, sobject: str, **where: Any) -> list[dict[str, Any]]:
        with self._lock:
            return [
                dict(row)
                for row in self.records.get(sobject, {}).values()
                if all(row.get(k) == v for k, v in where.items())
            ]

    def api_calls(self, path_part: str = "") -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if path_part in r["path"]]

    def _new_id(self, sobject: str) -> str:
        return f"{ID_PREFIX[sobject]}5g00000{next(self._ids):05d}AAA"

    def _tick(self) -> datetime:
        # Millisecond precision, as SystemModstamp; never backwards, never twice the same.
        now = datetime.now(UTC).replace(microsecond=datetime.now(UTC).microsecond // 1000 * 1000)
        self._clock = max(now, self._clock + timedelta(milliseconds=1))
        return self._clock

    # --- HTTP ------------------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if self.latency:
            time.sleep(self.latency)
        if request.path == "/services/oauth2/token":
            return self._token(request)(environ, start_response)
        with self._lock:
            self._in_flight += 1
        try:
            response = self._api(request)
        except Refusal as refusal:
            body: dict[str, Any] = {"message": refusal.message, "errorCode": refusal.code}
            if refusal.fields is not None:
                body["fields"] = refusal.fields
            response = Response(json.dumps([body]), status=refusal.status, content_type="application/json")
        finally:
            with self._lock:
                self._in_flight -= 1
        response.headers["Sforce-Limit-Info"] = f"api-usage={self.api_used}/{self.api_max}"
        return response(environ, start_response)

    def _api(self, request: Request) -> Response:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        with self._lock:
            if token not in self._tokens:
                raise Refusal(401, "INVALID_SESSION_ID", "Session expired or invalid")
            if self._down > 0:
                self._down -= 1
                raise Refusal(503, "SERVER_UNAVAILABLE", "Service temporarily unavailable")
            if self.api_used >= self.api_max:
                raise Refusal(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            if self._in_flight > self.max_concurrent:
                raise Refusal(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")
            self.api_used += 1
        path = request.path.rstrip("/")
        if not path.startswith(PREFIX + "/"):
            raise Refusal(404, "NOT_FOUND", "The requested resource does not exist")
        rest = path.removeprefix(PREFIX)
        if request.method == "GET" and rest == "/query":
            return self._query(request)
        if request.method == "GET" and rest.startswith("/query/"):
            return self._query_more(rest.removeprefix("/query/"))
        if request.method == "GET" and rest.startswith("/sobjects/") and rest.endswith("/describe"):
            return self._describe(rest.removeprefix("/sobjects/").removesuffix("/describe"))
        if rest == "/composite/sobjects" and request.method in ("POST", "PATCH"):
            return self._collections(request)
        if rest == "/composite/sobjects" and request.method == "DELETE":
            return self._collections_delete(request)
        raise Refusal(404, "NOT_FOUND", "The requested resource does not exist")

    # --- OAuth -----------------------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        def refuse(error: str, description: str, status: int = 400) -> Response:
            body = json.dumps({"error": error, "error_description": description})
            return Response(body, status=status, content_type="application/json")

        if request.method != "POST":
            return refuse("invalid_request", "must use HTTP POST", 400)
        if request.mimetype != "application/x-www-form-urlencoded":
            return refuse("invalid_request", "content type must be application/x-www-form-urlencoded")
        form = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
        grant = form.get("grant_type")
        if grant == "client_credentials":
            client_id, secret = form.get("client_id"), form.get("client_secret")
            basic = request.headers.get("Authorization", "")
            if basic.startswith("Basic "):
                client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            if not client_id or self.clients.get(client_id) != secret:
                return refuse("invalid_client", "invalid client credentials")
        elif grant == JWT_GRANT:
            problem = self._assertion_problem(form.get("assertion", ""))
            if problem:
                return refuse("invalid_grant", problem)
        else:
            return refuse("unsupported_grant_type", "grant type not supported")
        token = "00D5g000000fake!" + uuid.uuid4().hex + uuid.uuid4().hex
        with self._lock:
            self._tokens.add(token)
            self.tokens_issued += 1
        issued = str(int(time.time() * 1000))
        body = {
            "access_token": token,
            "instance_url": self.base_url,
            "id": f"{self.base_url}/id/00D5g000000fake/0055g000000fake",
            "token_type": "Bearer",
            "issued_at": issued,
            "signature": base64.b64encode(uuid.uuid4().bytes).decode(),
        }
        return Response(json.dumps(body), status=200, content_type="application/json")

    def _assertion_problem(self, assertion: str) -> str | None:
        try:
            unverified = json.loads(base64.urlsafe_b64decode(assertion.split(".")[1] + "=="))
            client_id = unverified.get("iss")
        except (ValueError, IndexError, AttributeError):
            return "invalid assertion"
        app = self.jwt_clients.get(client_id)
        if app is None:
            return "invalid assertion"  # Salesforce: an unknown iss reads as a bad assertion
        username, public_pem = app
        try:
            token = jwt.decode(assertion, RSAKey.import_key(public_pem), algorithms=["RS256"])
        except (JoseError, ValueError):
            return "invalid assertion"
        claims = token.claims
        if claims.get("aud") not in AUDIENCES:
            return "audience is invalid"
        if claims.get("sub") != username:
            return "user hasn't approved this consumer"
        exp = claims.get("exp")
        now = time.time()
        if not isinstance(exp, int) or exp < now or exp > now + 3 * 60 + 5:
            return "expired authorization code"
        return None

    # --- describe and query ------------------------------------------------------------------------

    def _describe(self, sobject: str) -> Response:
        spec = self.schema.get(sobject)
        if spec is None:
            raise Refusal(404, "NOT_FOUND", f"The requested resource does not exist: {sobject}")
        fields = [
            {
                "name": name,
                "type": f.type,
                "externalId": f.external_id,
                "idLookup": f.id_lookup,
                "createable": f.createable,
                "updateable": f.updateable,
                "nillable": not f.required and f.type != "boolean",
                "referenceTo": list(_targets(f)),
                "picklistValues": [{"value": v, "active": True} for v in f.values or []],
            }
            for name, f in spec.items()
        ]
        return self._json({"name": sobject, "queryable": True, "fields": fields})

    def _query(self, request: Request) -> Response:
        text = request.args.get("q")
        if not text:
            raise Refusal(400, "MALFORMED_QUERY", "A query string must be provided (q).")
        try:
            query = parse(text)
        except SoqlError as exc:
            raise Refusal(400, exc.code, exc.message) from exc
        spec = self.schema.get(query.object)
        if spec is None:
            raise Refusal(400, "INVALID_TYPE", f"sObject type '{query.object}' is not supported.")
        for name in query.fields + [name for name, _ in query.order]:
            if name not in spec:
                raise Refusal(400, "INVALID_FIELD", f"No such column '{name}' on entity '{query.object}'.")
        for condition in conditions(query.where):
            self._condition_check(query.object, spec, condition)
        with self._lock:
            self.requests.append({"method": "GET", "path": "/query", "q": text})
            test = predicate(query.where)
            rows = [row for row in self.records.get(query.object, {}).values() if test(row)]
        for name, descending in reversed(query.order):
            rows.sort(key=_sort_key(name), reverse=descending)
        if query.limit is not None:
            rows = rows[: query.limit]
        shown = [self._shown(query.object, row, query.fields) for row in rows]
        return self._page(shown, total=len(shown))

    def _condition_check(self, sobject: str, spec: dict[str, Field], condition: Condition) -> None:
        f = spec.get(condition.field)
        if f is None:
            raise Refusal(400, "INVALID_FIELD", f"No such column '{condition.field}' on entity '{sobject}'.")
        wanted = {"boolean": "boolean", "datetime": "datetime"}.get(f.type, "string")
        for literal in condition.values:
            if literal.kind not in (wanted, "null"):
                raise Refusal(
                    400,
                    "INVALID_QUERY_FILTER_OPERATOR",
                    f"value of filter criterion for field '{condition.field}' must be of type {f.type}"
                    + (" and should not be enclosed in quotes" if wanted != "string" else ""),
                )

    def _page(self, rows: list[dict[str, Any]], *, total: int) -> Response:
        page, rest = rows[: self.page_size], rows[self.page_size :]
        body: dict[str, Any] = {"totalSize": total, "done": not rest, "records": page}
        if rest:
            cursor = f"01g5g000000{uuid.uuid4().hex[:8]}-{self.page_size}"
            with self._lock:
                self._cursors[cursor] = rest
            body["nextRecordsUrl"] = f"{PREFIX}/query/{cursor}"
        return self._json(body)

    def _query_more(self, cursor: str) -> Response:
        with self._lock:
            rows = self._cursors.pop(cursor, None)
            self.requests.append({"method": "GET", "path": f"/query/{cursor}"})
        if rows is None:
            raise Refusal(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(rows, total=len(rows))

    def _shown(self, sobject: str, row: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "attributes": {"type": sobject, "url": f"{PREFIX}/sobjects/{sobject}/{row['Id']}"}
        }
        for name in fields:
            value = row.get(name)
            out[name] = sf_datetime(value) if isinstance(value, datetime) else value
        return out

    # --- sObject Collections ----------------------------------------------------------------------

    def _collections(self, request: Request) -> Response:
        if request.mimetype != "application/json":
            raise Refusal(415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json")
        try:
            body = json.loads(request.get_data(as_text=True))
        except ValueError as exc:
            raise Refusal(400, "JSON_PARSER_ERROR", "The request body is not valid JSON.") from exc
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise Refusal(400, "JSON_PARSER_ERROR", "records is required and must be a list.")
        all_or_none = body.get("allOrNone", False)
        if not isinstance(all_or_none, bool):
            raise Refusal(400, "JSON_PARSER_ERROR", "allOrNone must be a boolean.")
        records = body["records"]
        if not records:
            raise Refusal(400, "INVALID_FIELD", "No records to process.")
        if len(records) > 200:
            raise Refusal(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        create = request.method == "POST"
        for record in records:  # shape errors refuse the whole call, as Salesforce's parser does
            sobject = (record.get("attributes") or {}).get("type") if isinstance(record, dict) else None
            if sobject not in self.schema:
                raise Refusal(400, "INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
            for name in record:
                if name not in ("attributes", "id") and name not in self.schema[sobject]:
                    raise Refusal(
                        400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}"
                    )
            if create and ("id" in record or "Id" in record):
                raise Refusal(400, "INVALID_FIELD", "Can't specify an id when creating records.")
        types = [record["attributes"]["type"] for record in records]
        if 1 + sum(1 for a, b in itertools.pairwise(types) if a != b) > 10:
            # Records of several types are saved in chunks of one type each; at most 10 a call.
            raise Refusal(
                400,
                "INVALID_BATCH_REQUEST",
                "Cannot have more than 10 chunks in a single operation. "
                "Please rearrange the data to reduce chunking.",
            )
        with self._lock:
            self.requests.append({"method": request.method, "path": "/composite/sobjects", "body": body})
            staged = _Staged(self.records)
            results = [self._save(staged, record, create=create) for record in records]
            if all_or_none and not all(r["success"] for r in results):
                results = [
                    r
                    if not r["success"]
                    else {
                        "id": None,
                        "success": False,
                        "errors": [
                            {
                                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                                "message": "Record rolled back because not all records were valid "
                                "and the request was using AllOrNone header",
                                "fields": [],
                            }
                        ],
                    }
                    for r in results
                ]
            else:
                staged.commit()
        return self._json(results)

    def _save(self, staged: _Staged, record: dict[str, Any], *, create: bool) -> Any:
        sobject = record["attributes"]["type"]
        spec = self.schema[sobject]
        values = {k: v for k, v in record.items() if k not in ("attributes", "id")}

        def fail(code: str, message: str, fields: list[str]) -> dict[str, Any]:
            return {
                "id": record.get("id"),
                "success": False,
                "errors": [{"statusCode": code, "message": message, "fields": fields}],
            }

        for name, value in values.items():
            f = spec[name]
            if not (f.createable if create else f.updateable):
                return fail(
                    "INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: {name}.", [name]
                )
            if value is None:
                if f.required:
                    return fail("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]", [name])
                continue
            if f.type == "boolean" and not isinstance(value, bool):
                return fail("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: value not of required type", [name])
            if f.type == "picklist" and value not in (f.values or []):
                return fail(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{name}: bad value for restricted picklist field: {value}",
                    [name],
                )
            if f.type == "datetime":
                try:
                    values[name] = datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
                except ValueError:
                    return fail(
                        "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: value not of required type", [name]
                    )
            if f.type == "reference" and not any(staged.get(t, value) is not None for t in _targets(f)):
                return fail("INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {value}", [name])
            if f.type in ("string", "email", "phone") and not isinstance(value, str):
                return fail("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: value not of required type", [name])
            if f.type == "email" and not EMAIL.match(value):
                return fail("INVALID_EMAIL_ADDRESS", f"{name}: invalid email address: {value}", [name])
        now = self._tick()
        if create:
            missing = [name for name, f in spec.items() if f.required and values.get(name) in (None, "")]
            if missing:
                return fail("REQUIRED_FIELD_MISSING", f"Required fields are missing: {missing}", missing)
            record_id = self._new_id(sobject)
            row: dict[str, Any] = {name: (False if f.type == "boolean" else None) for name, f in spec.items()}
            row.update(values, Id=record_id, SystemModstamp=now, LastModifiedDate=now)
            staged.put(sobject, record_id, row)
            return {"id": record_id, "success": True, "errors": []}
        given = record.get("id")
        existing = staged.get(sobject, given) if isinstance(given, str) else None
        if existing is None:
            if not isinstance(given, str) or len(given) not in (15, 18):
                return fail("MALFORMED_ID", f"malformed id {given}", ["Id"])
            if given in self.deleted.get(sobject, {}):
                return fail("ENTITY_IS_DELETED", "entity is deleted", [])
            return fail("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["Id"])
        if given in self.validation_rules:
            return fail("FIELD_CUSTOM_VALIDATION_EXCEPTION", self.validation_rules[given], [])
        staged.put(sobject, given, {**existing, **values, "SystemModstamp": now, "LastModifiedDate": now})
        return {"id": given, "success": True, "errors": []}

    def _collections_delete(self, request: Request) -> Response:
        raw = request.args.get("ids", "")
        ids = [part for part in raw.split(",") if part] if raw else []
        if not ids:
            raise Refusal(400, "MISSING_ARGUMENT", "ids: the ids parameter is required.")
        if len(ids) > 200:
            raise Refusal(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        flag = request.args.get("allOrNone", "false")
        if flag not in ("true", "false"):
            raise Refusal(400, "JSON_PARSER_ERROR", "allOrNone must be true or false.")
        with self._lock:
            self.requests.append(
                {"method": "DELETE", "path": "/composite/sobjects", "ids": ids, "allOrNone": flag == "true"}
            )
            staged = _Staged(self.records)
            bin_ = {sobject: dict(rows) for sobject, rows in self.deleted.items()}
            results = [self._delete(staged, bin_, record_id) for record_id in ids]
            if flag == "true" and not all(r["success"] for r in results):
                results = [
                    r
                    if not r["success"]
                    else {
                        "id": r["id"],
                        "success": False,
                        "errors": [
                            {
                                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                                "message": "Record rolled back because not all records were valid "
                                "and the request was using AllOrNone header",
                                "fields": [],
                            }
                        ],
                    }
                    for r in results
                ]
            else:
                staged.commit()
                self.deleted = bin_
        return self._json(results)

    def _delete(
        self, staged: _Staged, bin_: dict[str, dict[str, dict[str, Any]]], record_id: str
    ) -> dict[str, Any]:
        def fail(code: str, message: str, *, named: bool = True) -> dict[str, Any]:
            result: dict[str, Any] = {
                "success": False,
                "errors": [{"statusCode": code, "message": message, "fields": []}],
            }
            return {"id": record_id, **result} if named else result

        if not re.fullmatch(r"[A-Za-z0-9]{15}([A-Za-z0-9]{3})?", record_id):
            return fail("MALFORMED_ID", f"malformed id {record_id}", named=False)
        if any(record_id in rows for rows in bin_.values()):
            return fail("ENTITY_IS_DELETED", "entity is deleted")
        sobject = next((t for t in staged.types() if staged.get(t, record_id) is not None), None)
        if sobject is None:
            return fail("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if record_id in self.delete_refusals:
            code, message = self.delete_refusals[record_id]
            return fail(code, message)
        for child_type in staged.types():
            required = [n for n, f in self.schema[child_type].items() if f.required and f.type == "reference"]
            for row in staged.rows(child_type):
                if any(row.get(n) == record_id for n in required):
                    return fail(
                        "DELETE_FAILED",
                        f"Your attempt to delete {record_id} could not be completed because it is "
                        f"associated with the following {child_type}s.: {row['Id']}",
                    )
        row = staged.pop(sobject, record_id)
        # Lookups to it are cleared, as Salesforce clears an optional lookup to a deleted record.
        for child_type in staged.types():
            spec = self.schema[child_type]
            lookups = [n for n, f in spec.items() if f.type == "reference" and not f.required]
            cleared = [
                {**child, **{n: None for n in lookups if child.get(n) == record_id}}
                for child in staged.rows(child_type)
                if any(child.get(n) == record_id for n in lookups)
            ]
            for child in cleared:
                staged.put(child_type, child["Id"], child)
        bin_.setdefault(sobject, {})[record_id] = row
        return {"id": record_id, "success": True, "errors": []}

    def _json(self, body: Any) -> Response:
        return Response(json.dumps(body), status=200, content_type="application/json")


class _Staged:
    """One API call's writes over the org's records, applied only if the call succeeds: the rows it
    changes, nothing copied. Rows are never changed in place (a change is a new row), so a query's
    page holding rows stays as it was read."""

    def __init__(self, records: dict[str, dict[str, dict[str, Any]]]) -> None:
        self.records = records
        self.changes: dict[str, dict[str, dict[str, Any] | None]] = {}

    def get(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        changed = self.changes.get(sobject, {})
        if record_id in changed:
            return changed[record_id]
        return self.records.get(sobject, {}).get(record_id)

    def put(self, sobject: str, record_id: str, row: dict[str, Any]) -> None:
        self.changes.setdefault(sobject, {})[record_id] = row

    def pop(self, sobject: str, record_id: str) -> dict[str, Any]:
        row = self.get(sobject, record_id)
        assert row is not None
        self.changes.setdefault(sobject, {})[record_id] = None
        return row

    def types(self) -> list[str]:
        return list(dict.fromkeys([*self.records, *self.changes]))

    def rows(self, sobject: str) -> list[dict[str, Any]]:
        changed = self.changes.get(sobject, {})
        merged = {**self.records.get(sobject, {}), **changed}
        return [row for row in merged.values() if row is not None]

    def commit(self) -> None:
        for sobject, changed in self.changes.items():
            rows = self.records.setdefault(sobject, {})
            for record_id, row in changed.items():
                if row is None:
                    rows.pop(record_id, None)
                else:
                    rows[record_id] = row


def _sort_key(name: str) -> Any:
    def key(row: dict[str, Any]) -> tuple[bool, Any]:
        value = row.get(name)
        return (value is None, value if value is not None else 0)

    return key
