"""Salesforce OAuth 2.0 and the one way the connector calls the org's REST API.

Two server-to-server flows, as Salesforce Help describes them ("OAuth 2.0 Client Credentials Flow
for Server-to-Server Integration", "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration"):

- `{"client_id", "client_secret"}`: `grant_type=client_credentials` (the connected app runs as
  its configured integration user);
- `{"client_id", "username", "private_key"}`: `grant_type=urn:ietf:params:oauth:grant-type:
  jwt-bearer` with an RS256 assertion (iss the client id, sub the username, aud
  login.salesforce.com, or test.salesforce.com for a sandbox, exp three minutes ahead), signed
  with the key whose certificate the connected app holds. joserfc (already a dependency, for
  consent receipts) builds it.

Both POST `{base}/services/oauth2/token` (the org's My Domain). The answer has no lifetime (the
session lasts as the org's timeout says), so the token is cached for `TOKEN_SECONDS` in Django's
cache, keyed by connector, and fetched again once when a call answers 401 INVALID_SESSION_ID.
The token's `instance_url` is not followed: calls stay on the configured host (the SSRF guard
checked it, and a token must not be sent elsewhere). Nothing here logs a token or a secret, and
every message is redacted of the credentials before it leaves.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.core.cache import cache
from joserfc import jwt
from joserfc.jwk import RSAKey

from sync.delivery.connectors.vendors import Target, redact

API_VERSION = "v62.0"
# Candor channel -> ContactPointType (the consent data model's picklist).
CHANNELS = {"email": "Email", "phone": "Phone", "sms": "Phone"}
CONSENT_FIELDS = [
    "Id",
    "PartyId",
    "DataUsePurposeId",
    "ContactPointType",
    "PrivacyConsentStatus",
    "SystemModstamp",
]
# ContactPointType -> the contact point object and its address field (ParentId: the Individual).
POINT_OBJECTS = {
    "Email": ("ContactPointEmail", "EmailAddress"),
    "Phone": ("ContactPointPhone", "TelephoneNumber"),
}
POINT_CONSENT_FIELDS = ["Id", "ContactPointId", "DataUsePurposeId", "PrivacyConsentStatus", "SystemModstamp"]
DATA = f"/services/data/{API_VERSION}"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_SECONDS = 15 * 60
# A daily limit exhausted frees up over the rolling 24 hours; concurrency in seconds. A 503
# carries no Retry-After: the delivery's own backoff decides.
DAILY_LIMIT_RETRY = 30 * 60.0
CONCURRENCY_RETRY = 5.0
# The org's daily API requests are shared with every other integration the brand runs: past this
# share of them (as Sforce-Limit-Info last said), Candor holds off until the day's use drops.
API_SHARE = 0.9
USAGE_SECONDS = 10 * 60


class SalesforceRefused(Exception):
    """A call Salesforce refused or could not answer; the message is safe to show (redacted)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str = "",
        retry_after: float | None = None,
        permanent: bool = False,
        excerpt: str = "",
    ) -> None:
        super().__init__(message)
        self.status_code, self.code = status_code, code
        self.retry_after, self.permanent, self.excerpt = retry_after, permanent, excerpt


@dataclass
class Answer:
    body: Any
    api_usage: str  # the Sforce-Limit-Info header, e.g. "api-usage=25/15000"


def credentials_problems(credentials: Any) -> list[str]:
    shapes = ({"client_id", "client_secret"}, {"client_id", "username", "private_key"})
    if not isinstance(credentials, dict) or set(credentials) not in shapes:
        return [
            'Salesforce takes {"client_id", "client_secret"} (client credentials flow) or '
            '{"client_id", "username", "private_key"} (JWT bearer flow).'
        ]
    problems = [
        f"{name} must be a non-empty string."
        for name, value in sorted(credentials.items())
        if not isinstance(value, str) or not value.strip()
    ]
    if not problems and "private_key" in credentials:
        try:
            key = RSAKey.import_key(credentials["private_key"])
            if not key.is_private:
                problems.append(
                    "private_key must be the RSA private key (PEM) of the connected app's certificate."
                )
        except Exception:  # whatever the key parser makes of a bad PEM, it is not a key
            problems.append(
                "private_key must be the RSA private key (PEM) of the connected app's certificate."
            )
    return problems


def _cache_key(target: Target) -> str | None:
    if not target.public_id:
        return None  # a check before the connector exists: nothing to key it by
    who = f"{target.base_url}|{target.credentials.get('client_id')}|{target.credentials.get('username', '')}"
    return f"connectors:salesforce:token:{target.public_id}:{hashlib.sha256(who.encode()).hexdigest()[:16]}"


def _assertion(target: Target) -> str:
    host = urlsplit(target.base_url).hostname or ""
    audience = "https://test.salesforce.com" if ".sandbox." in host else "https://login.salesforce.com"
    claims = {
        "iss": target.credentials["client_id"],
        "sub": target.credentials["username"],
        "aud": audience,
        "exp": int(time.time()) + 180,
    }
    key = RSAKey.import_key(target.credentials["private_key"])
    return jwt.encode({"alg": "RS256"}, claims, key, algorithms=["RS256"])


def _token_fetch(target: Target, *, client: httpx.Client) -> str:
    credentials = target.credentials
    if "private_key" in credentials:
        form = {"grant_type": JWT_GRANT, "assertion": _assertion(target)}
    else:
        form = {
            "grant_type": "client_credentials",
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
        }
    try:
        response = client.post(f"{target.base_url}/services/oauth2/token", data=form)
    except httpx.TimeoutException as exc:
        raise SalesforceRefused("Salesforce's token endpoint did not answer in time.") from exc
    except httpx.HTTPError as exc:
        raise SalesforceRefused(f"Salesforce could not be reached: {type(exc).__name__}.") from exc
    if response.status_code == 200:
        token = response.json().get("access_token")
        if isinstance(token, str) and token:
            return token
        raise SalesforceRefused("Salesforce's token answer had no access_token.", status_code=200)
    try:
        error = response.json()
        detail = f"{error.get('error')}: {error.get('error_description')}"
    except (ValueError, AttributeError):
        detail = response.text[:200]
    status = response.status_code
    # 400 invalid_client / invalid_grant: the credentials are wrong; 5xx: the org is down.
    raise SalesforceRefused(
        redact(f"Salesforce refused the credentials ({status}, {detail}).", credentials)[:300],
        status_code=401 if status == 400 else status,
        code="OAUTH",
        permanent=False,
    )


# Salesforce's generic login hosts: they hold no org's data, and the client credentials flow
# refuses them; a connector names its org's My Domain.
LOGIN_HOSTS = {"login.salesforce.com", "test.salesforce.com"}


def access_token(target: Target, *, client: httpx.Client, fresh: bool = False) -> str:
    if urlsplit(target.base_url).hostname in LOGIN_HOSTS:
        raise SalesforceRefused(
            "Give the org's My Domain (https://<domain>.my.salesforce.com) as api_base_url, "
            "not Salesforce's login host."
        )
    key = _cache_key(target)
    if key is not None and not fresh:
        cached = cache.get(key)
        if isinstance(cached, str):
            return cached
    token = _token_fetch(target, client=client)
    if key is not None:
        cache.set(key, token, TOKEN_SECONDS)
    return token


def api_call(
    target: Target,
    method: str,
    path: str,
    *,
    client: httpx.Client,
    params: dict[str, str] | None = None,
    body: Any = None,
) -> Answer:
    """One REST call on the org (`path` under the host, e.g. DATA + "/query"), authenticated; a
    401 INVALID_SESSION_ID fetches a new token and tries once more. SalesforceRefused for every
    answer but 2xx, with what the retry needs (Retry-After, permanent)."""
    if not path.startswith(DATA + "/"):
        raise SalesforceRefused("Salesforce pointed outside its REST API; not followed.")
    usage_key = _usage_key(target)
    used = cache.get(usage_key) if usage_key else None
    if isinstance(used, tuple) and used[0] >= used[1] * API_SHARE:
        raise SalesforceRefused(
            f"Holding off: the org has used {used[0]} of its {used[1]} daily API requests "
            f"(Candor stops at {API_SHARE:.0%}, leaving the rest to the org's other integrations).",
            status_code=None,
            code="API_SHARE",
            retry_after=DAILY_LIMIT_RETRY,
        )
    token = access_token(target, client=client)
    for attempt in range(2):
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(body, separators=(",", ":")).encode()
        try:
            response = client.request(
                method, f"{target.base_url}{path}", params=params, content=content, headers=headers
            )
        except httpx.TimeoutException as exc:
            raise SalesforceRefused("Salesforce did not answer in time.", retry_after=None) from exc
        except httpx.HTTPError as exc:
            raise SalesforceRefused(f"Salesforce could not be reached: {type(exc).__name__}.") from exc
        usage = response.headers.get("sforce-limit-info", "")
        counts = _usage(usage)
        if usage_key and counts is not None:
            cache.set(usage_key, counts, USAGE_SECONDS)
        if response.status_code < 300:
            return Answer(body=response.json() if response.content else None, api_usage=usage)
        code, message = _error(response)
        if response.status_code == 401 and code == "INVALID_SESSION_ID" and attempt == 0:
            token = access_token(target, client=client, fresh=True)
            continue
        raise _refused(target, response, code=code, message=message)
    raise AssertionError("unreachable")


def _usage_key(target: Target) -> str | None:
    key = _cache_key(target)
    return key.replace(":token:", ":usage:") if key else None


def _usage(header: str) -> tuple[int, int] | None:
    """(used, max) from `api-usage=25/15000` (other entries may follow, comma-separated)."""
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        used, _, most = value.partition("/")
        if name == "api-usage" and used.isdigit() and most.isdigit() and int(most) > 0:
            return int(used), int(most)
    return None


def _error(response: httpx.Response) -> tuple[str, str]:
    try:
        errors = response.json()
        first = errors[0] if isinstance(errors, list) and errors else {}
        return str(first.get("errorCode", "")), str(first.get("message", ""))
    except (ValueError, AttributeError, TypeError):
        return "", response.text[:200]


def _refused(target: Target, response: httpx.Response, *, code: str, message: str) -> SalesforceRefused:
    status = response.status_code
    retry_after = None
    if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
        retry_after = CONCURRENCY_RETRY if "Concurrent" in message else DAILY_LIMIT_RETRY
    # 400 and 404 are the request's own fault: the same call would be refused again.
    permanent = status in (400, 404, 405, 415)
    return SalesforceRefused(
        redact(f"Salesforce answered {status} {code}: {message}", target.credentials)[:300],
        status_code=status,
        code=code,
        retry_after=retry_after,
        permanent=permanent,
        excerpt=redact(response.text[:1024], target.credentials),
    )


def soql_quote(value: str) -> str:
    """A SOQL string literal: backslash and quote escaped (the SOQL reference's escapes)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{escaped}'"


def soql(*, fields: Sequence[str], sobject: str, where: str, order: str = "") -> str:
    """A SOQL query. Object and field names come from the validated mapping (API names only),
    values only through `soql_quote` or a dateTime literal; SOQL reads, it cannot write."""
    text = f"SELECT {', '.join(dict.fromkeys(fields))} FROM {sobject} WHERE {where}"  # noqa: S608
    return f"{text} ORDER BY {order}" if order else text


def query_all(
    target: Target, soql: str, *, client: httpx.Client, limit_pages: int = 1000
) -> list[dict[str, Any]]:
    """Every record of a SOQL query, following nextRecordsUrl."""
    answer = api_call(target, "GET", f"{DATA}/query", client=client, params={"q": soql})
    records = list(answer.body["records"])
    for _ in range(limit_pages):
        nxt = answer.body.get("nextRecordsUrl")
        if answer.body.get("done", True) or not nxt:
            break
        answer = api_call(target, "GET", nxt, client=client)
        records += answer.body["records"]
    return records


def soql_in(values: Iterable[str]) -> str:
    """A SOQL IN list of string literals."""
    return "(" + ", ".join(soql_quote(v) for v in sorted(set(values))) + ")"


def soql_time(at: datetime) -> str:
    """A SOQL dateTime literal (whole seconds, UTC)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sf_time(at: datetime) -> str:
    """A dateTime as the REST API takes it in a record (milliseconds, UTC)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def parse_time(raw: Any) -> datetime | None:
    """A dateTime as the REST API shows it (`2026-12-04T12:00:00.000+0000`), or None."""
    if not isinstance(raw, str):
        return None
    text = raw.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return None
