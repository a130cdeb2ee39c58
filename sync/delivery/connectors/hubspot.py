"""HubSpot: Candor topics and purposes onto HubSpot subscription types (Communication Preferences v4).

Read from HubSpot's published OpenAPI descriptions (github.com/HubSpot/HubSpot-public-api-spec-
collection: PublicApiSpecs/Communication Preferences/Subscriptions/Rollouts/176901/v4/
subscriptions.json and PublicApiSpecs/CRM/Contacts/Rollouts/424/v3/contacts.json) and the
developer docs (developers.hubspot.com: the subscription preferences v4 guide, "API usage
guidelines and limits", "Validating requests from HubSpot", the webhooks guide):

- every call sends `Authorization: Bearer <token>`: a private app's access token (`pat-…`), or
  an OAuth app's access token, fetched with its refresh token, cached, and fetched again once on
  a 401 (`hubspot_auth`).
- `GET /communication-preferences/v4/definitions` lists the account's subscription types; the
  mapping's ids are checked against the active ones when it is saved.
- `POST /crm/v3/objects/contacts/batch/upsert` (idProperty email, 100 inputs a call) creates or
  finds the contact, once per Candor contact: its HubSpot id is kept (sync.models.VendorContact)
  because HubSpot's webhooks name a contact by that id only.
- `POST /crm/v3/objects/contacts/batch/update` (by the id kept) when a contact's address changed
  in Candor, before its statuses are written, and `GET /crm/v3/objects/contacts/{id}` when
  another HubSpot contact has the new address (`hubspot_moves`, which says how the change is seen
  without a call, and why a record another Candor contact shares is not moved); the address
  left is then written UNSUBSCRIBED for each mapped type in the push's own statuses write (from
  the sealed `moved` notice: `keeps_consent_by_address`).
- `POST /communication-preferences/v4/statuses/batch/write`: `statusState` SUBSCRIBED or
  UNSUBSCRIBED per subscription type on channel EMAIL (v4 has no other channel, so SMS and
  WhatsApp are refused in the mapping), with `legalBasis` and `legalBasisExplanation` on a
  SUBSCRIBED (HubSpot requires a legal basis to subscribe where GDPR tools are on; an opt-out
  needs none). The legal basis is CONSENT_WITH_NOTICE unless the mapping entry names another
  (a LEGITIMATE_INTEREST_* basis is the brand's own claim, never inferred).
- `POST /communication-preferences/v4/statuses/batch/unsubscribe-all?channel=EMAIL` for a
  channel-wide "no" (Candor's "unsubscribe from all" on email).
- `POST /communication-preferences/v4/statuses/batch/read?channel=EMAIL` (and
  `…/unsubscribe-all/read`) for the reconciler.
- `POST /crm/v3/objects/contacts/gdpr-delete` (`{"objectId"}`, 204; one contact a call) when a
  contact is erased in Candor: HubSpot permanently deletes the record Candor created or found,
  known by the id kept (Candor no longer holds the address); a contact HubSpot does not have
  (404) is done already, and one Candor never pushed is left alone. The record is read by id
  first: one whose address another live contact of the brand gives is theirs too, and is handed
  to them instead of deleted (hubspot_moves.erasures_unshared).
- No batch limit is written in the v4 description; 100 inputs a call is HubSpot's documented
  batch size for its CRM objects, and is kept for every batch call here.
- Rate limits: each answer carries X-HubSpot-RateLimit-Max / -Remaining / -Interval-Milliseconds
  (the rolling ten-second window), -Secondly / -Secondly-Remaining and -Daily / -Daily-Remaining.
  A 429's body is `{"status": "error", "errorType": "RATE_LIMIT", "policyName", …}`: the batch is
  retried after the window (the daily policy: after an hour). When a window's Remaining reaches 0
  and the batch still has calls to make, it stops there and is retried after the window: the
  worker is not held asleep, and the calls already made are not repeated (pushing current state
  is idempotent and the contact's id is kept).

What one delivery pushes is the contact's state now, for every mapped subscription type, by the
same rule as Klaviyo's lists (rule.mapped_action: a "no" anywhere wins over every "yes"; not
set or pending changes nothing); `expected` uses that rule too. A contact unsubscribed from all
email in Candor is unsubscribed from all in HubSpot (one unsubscribe-all call, not a write per
type). Errors are `{"status": "error", "message", "correlationId", "category", …}`; a 400 is the
request's own fault and fails for good; 401/403 (a revoked token, a missing scope) and 5xx are
retried, so fixing the token resumes the connector.

Inbound (webhooks v3, `hubspot_inbound`): HubSpot signs each call with `X-HubSpot-Signature-v3`,
base64(HMAC-SHA256(app client secret, method + URI + body + X-HubSpot-Request-Timestamp)); a
timestamp (ms) more than five minutes away is refused. The body is a JSON array of events. A
contact's "no" arrives as `contact.propertyChange` (or the newer `object.propertyChange` on
objectTypeId 0-1) on `hs_email_optout` (unsubscribed from all email: HubSpot also sets it on a
spam complaint), on `hs_email_optout_<subscription id>` (HubSpot's per-type opt-out property) or
on `hs_email_hard_bounce_reason_enum` (a hard bounce). An event names the contact by `objectId`
only, so it is read back to Candor's external id through the ids kept when pushing (a contact
Candor never pushed reads as unknown, and is kept as such). `eventId` is the dedup id.

Library: httpx through the webhooks' pooled client, not `hubspot-api-client`: that client makes
its own urllib3 pool (outside the SSRF guard, no default timeout) and pulls in a generated SDK of
every HubSpot API for the few calls used here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from sync.delivery.connectors.erasure_notices import moved_notices_done
from sync.delivery.connectors.hubspot_auth import (
    HubSpotAuthRefused,
    access_token,
    credentials_problems,
    is_oauth,
)
from sync.delivery.connectors.hubspot_inbound import hubspot_inbound
from sync.delivery.connectors.hubspot_limits import EXCERPT, rate_wait
from sync.delivery.connectors.hubspot_moves import (
    address_mark,
    contacts_move,
    erasures_unshared,
    former_addresses,
    former_rows,
    hubspot_ids,
    left_marks,
    moves_needed,
    moves_unshared,
    notices_read,
)
from sync.delivery.connectors.rule import mapped_action
from sync.delivery.connectors.vendor_contacts import (
    vendor_contacts_all,
    vendor_contacts_drop,
    vendor_contacts_forget,
    vendor_contacts_keep,
)
from sync.delivery.connectors.vendors import (
    AccountView,
    InboundAnswer,
    InboundRequest,
    Item,
    PushResult,
    SlotState,
    Target,
    VendorError,
    VendorSignal,
    redact,
)
from sync.outbox.contact_state import ContactState

BATCH = 100
LEGAL_BASES = (
    "CONSENT_WITH_NOTICE",
    "LEGITIMATE_INTEREST_CLIENT",
    "LEGITIMATE_INTEREST_OTHER",
    "LEGITIMATE_INTEREST_PQL",
    "NON_GDPR",
    "PERFORMANCE_OF_CONTRACT",
    "PROCESS_AND_STORE",
)
DEFAULT_LEGAL_BASIS = "CONSENT_WITH_NOTICE"
# Where HubSpot says a daily limit is spent, try again in an hour (it resets at midnight in the
# account's own time zone, which Candor does not know).
NOTHING = PushResult(succeeded=True, excerpt="Nothing to push for this contact's current state.")
UPSERT = "/crm/v3/objects/contacts/batch/upsert"
WRITE = "/communication-preferences/v4/statuses/batch/write"
UNSUBSCRIBE_ALL = "/communication-preferences/v4/statuses/batch/unsubscribe-all"
READ = "/communication-preferences/v4/statuses/batch/read"
READ_ALL = "/communication-preferences/v4/statuses/batch/unsubscribe-all/read"
DEFINITIONS = "/communication-preferences/v4/definitions"
GDPR_DELETE = "/crm/v3/objects/contacts/gdpr-delete"


def slot_name(subscription_id: str) -> str:
    return f"subscription:{subscription_id}:email"


def subscription_action(state: ContactState, entry: dict[str, Any]) -> str | None:
    """ "SUBSCRIBED" | "UNSUBSCRIBED" | None for one mapped subscription type: Klaviyo's rule
    (a "no" anywhere wins), on email, the only channel v4 keeps."""
    action = mapped_action(state, entry, "email")
    if action is None:
        return None
    return "SUBSCRIBED" if action[0] == "subscribe" else "UNSUBSCRIBED"


def legal_basis(entry: dict[str, Any]) -> tuple[str, str]:
    """The legal basis and explanation sent with a SUBSCRIBED for this mapping entry."""
    basis = entry.get("legal_basis") or DEFAULT_LEGAL_BASIS
    named = " and ".join(f"{kind} {entry[kind]!r}" for kind in ("purpose", "topic") if entry.get(kind))
    explanation = entry.get("legal_basis_explanation") or f"Recorded in Candor: {named}."
    return basis, explanation


@dataclass
class _Call:
    path: str
    body: dict[str, Any]
    delivery_ids: list[int]
    query: dict[str, str] = field(default_factory=dict)
    # After an upsert: the contact_refs whose HubSpot ids to keep, by email.
    keep: dict[str, int] = field(default_factory=dict)
    # After a GDPR delete: the contact whose HubSpot id to forget.
    forget: int | None = None


class HubSpotAdapter:
    vendor = "hubspot"
    default_base_url = "https://api.hubapi.com"
    max_batch = BATCH
    # One batch (two calls) at a time already nears HubSpot's 19 calls a second; two at once
    # only meet its 429s (measured: 45% of the ceiling against 63%).
    backfill_in_flight = 1
    erases_by_address = False
    keeps_consent_by_address = True
    polled = False

    # --- configuration -----------------------------------------------------------------------

    def credentials_errors(self, credentials: Any) -> list[str]:
        return credentials_problems(credentials)

    def mapping_errors(
        self, mapping: Any, *, topics: dict[str, list[str]], purposes: set[str]
    ) -> dict[str, list[str]]:
        """{"subscriptions": [{"subscription_id": "<HubSpot subscription type id>", "topic"?,
        "purpose"?, "channels"?: ["email"], "legal_basis"?, "legal_basis_explanation"?}]}."""
        if (
            not isinstance(mapping, dict)
            or set(mapping) != {"subscriptions"}
            or not isinstance(mapping["subscriptions"], list)
        ):
            return {
                "mapping": [
                    'The mapping is {"subscriptions": [{"subscription_id", "topic"?, "purpose"?, '
                    '"legal_basis"?, "legal_basis_explanation"?}, …]}.'
                ]
            }
        errors: dict[str, list[str]] = {}
        seen: set[str] = set()
        allowed = {
            "subscription_id",
            "topic",
            "purpose",
            "channels",
            "legal_basis",
            "legal_basis_explanation",
        }
        for index, entry in enumerate(mapping["subscriptions"]):
            where = f"mapping.subscriptions.{index}"
            if not isinstance(entry, dict):
                errors[where] = ["Each entry is an object."]
                continue
            problems: list[str] = []
            unknown_keys = sorted(set(entry) - allowed)
            if unknown_keys:
                problems.append(f"Unknown key(s): {', '.join(unknown_keys)}.")
            subscription_id = entry.get("subscription_id")
            if not isinstance(subscription_id, str) or not subscription_id.isdigit():
                problems.append("subscription_id is a HubSpot subscription type id (digits, as a string).")
            elif subscription_id in seen:
                problems.append(f"Subscription type {subscription_id} is mapped twice.")
            else:
                seen.add(subscription_id)
            topic, purpose = entry.get("topic"), entry.get("purpose")
            if topic is None and purpose is None:
                problems.append("Name a topic, a purpose or both.")
            if topic is not None and topic not in topics:
                problems.append(f"Unknown topic {topic!r}.")
            elif isinstance(topic, str) and "email" not in topics[topic]:
                problems.append(f"Topic {topic!r} is not offered on email.")
            if purpose is not None and purpose not in purposes:
                problems.append(f"Unknown purpose {purpose!r}.")
            if entry.get("channels", ["email"]) != ["email"]:
                problems.append(
                    'channels can only be ["email"]: HubSpot keeps subscription statuses (v4) on EMAIL only.'
                )
            basis = entry.get("legal_basis")
            if basis is not None and basis not in LEGAL_BASES:
                problems.append(f"legal_basis is one of {', '.join(LEGAL_BASES)}.")
            explanation = entry.get("legal_basis_explanation")
            if explanation is not None and (
                not isinstance(explanation, str) or not 0 < len(explanation) <= 500
            ):
                problems.append("legal_basis_explanation is a text of at most 500 characters.")
            if problems:
                errors[where] = problems
        return errors

    def mapping_lists(self, mapping: dict[str, Any]) -> set[str]:
        return {entry["subscription_id"] for entry in mapping.get("subscriptions", [])}

    # --- calls -------------------------------------------------------------------------------

    def _send(
        self,
        target: Target,
        method: str,
        path: str,
        *,
        client: httpx.Client,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> tuple[httpx.Response, dict[str, Any]]:
        """One authenticated call, and the secrets to redact from its answer (the credentials and
        the access token used). An OAuth call answered 401 gets a new access token and is made
        once more: the cached one expired or was revoked early."""
        token = access_token(target, client=client)
        for attempt in range(2):
            headers = {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            }
            response = client.request(
                method, f"{target.base_url}{path}", params=params, content=content, headers=headers
            )
            if response.status_code == 401 and is_oauth(target.credentials) and attempt == 0:
                token = access_token(target, client=client, fresh=True)
                continue
            break
        return response, {**target.credentials, "bearer": token}

    def account_view(self, target: Target, *, client: httpx.Client) -> AccountView:
        """The account's active subscription types; VendorError if the token or host fails."""
        try:
            response, secrets = self._send(target, "GET", DEFINITIONS, client=client)
        except HubSpotAuthRefused as exc:
            # A refused refresh token (400) is the credentials' fault, as a 401 is.
            raise VendorError(
                str(exc), status_code=401 if exc.status_code == 400 else exc.status_code
            ) from exc
        except httpx.HTTPError as exc:
            raise VendorError(f"HubSpot could not be reached: {type(exc).__name__}.") from exc
        if response.status_code != 200:
            raise VendorError(
                f"HubSpot answered {response.status_code}: {_error_detail(response, secrets)}",
                status_code=response.status_code,
            )
        rows = response.json().get("results") or []
        lists = [
            {"id": str(row["id"]), "name": str(row.get("name") or "")}
            for row in rows
            if row.get("isActive", True)
        ]
        return AccountView(
            ok=True, detail=f"The token works; {len(lists)} active subscription type(s) visible.", lists=lists
        )

    def _post(
        self, target: Target, path: str, body: dict[str, Any], *, client: httpx.Client, query: dict[str, str]
    ) -> tuple[PushResult, httpx.Response | None]:
        try:
            response, secrets = self._send(
                target,
                "POST",
                path,
                client=client,
                params=query or None,
                content=json.dumps(body, separators=(",", ":")).encode(),
            )
        except HubSpotAuthRefused as exc:
            # No access token: nothing was sent. Retried as a 401 is (new credentials fix it).
            return PushResult(
                succeeded=False, status_code=exc.status_code, excerpt=exc.excerpt, error=str(exc)
            ), None
        except httpx.TimeoutException:
            return PushResult(succeeded=False, error="HubSpot did not answer in time."), None
        except httpx.HTTPError as exc:
            error = redact(f"{type(exc).__name__}: {exc}", target.credentials)[:300]
            return PushResult(succeeded=False, error=error), None
        status = response.status_code
        name = path.rsplit("/", 2)[-2] + "/" + path.rsplit("/", 1)[-1]
        if status in (200, 204) or (status == 404 and path == GDPR_DELETE):
            # A GDPR delete of a contact HubSpot no longer has is done already.
            return PushResult(succeeded=True, status_code=status, excerpt=f"{name} accepted"), response
        permanent = status in (400, 404, 405, 413, 415, 422) or status == 207
        return (
            PushResult(
                succeeded=False,
                status_code=status,
                excerpt=redact(response.text[:EXCERPT], secrets),
                error=f"HubSpot answered {status} to {name}.",
                retry_after=rate_wait(response),
                permanent=permanent,
            ),
            response,
        )

    def _plan(
        self,
        target: Target,
        items: Sequence[Item],
        *,
        known: Mapping[int, str],
        former: Mapping[int, list[str]],
    ) -> tuple[list[_Call], dict[int, int]]:
        """The calls a batch needs, in order: upsert the contacts HubSpot does not have yet,
        write the statuses (and the "no" under the addresses in `former`), unsubscribe from all;
        and contact_ref -> the delivery whose calls carry that "no". `known`: contact_ref -> the
        HubSpot id kept."""
        entries = target.mapping.get("subscriptions", [])
        writes: list[tuple[int, dict[str, Any]]] = []
        wide: list[tuple[int, str]] = []
        touched: dict[int, ContactState] = {}
        erased: dict[int, int] = {}  # contact_ref -> delivery id
        for item in items:
            state = item.state
            if state is not None and state.erased:
                erased.setdefault(state.contact_ref, item.delivery_id)
                continue
            if state is None or not state.email:
                continue
            if state.unsubscribed_all.get("email", False):
                wide.append((item.delivery_id, state.email))
                touched[item.delivery_id] = state
                continue  # HubSpot's unsubscribe-all covers every type
            for entry in entries:
                action = subscription_action(state, entry)
                if action is None:
                    continue
                row: dict[str, Any] = {
                    "subscriberIdString": state.email,
                    "subscriptionId": int(entry["subscription_id"]),
                    "channel": "EMAIL",
                    "statusState": action,
                }
                if action == "SUBSCRIBED":
                    row["legalBasis"], row["legalBasisExplanation"] = legal_basis(entry)
                writes.append((item.delivery_id, row))
                touched[item.delivery_id] = state
        # The addresses a moved contact left (HubSpot had its record there): each mapped type
        # "no" there, in the same write as the statuses, carried by one of its deliveries.
        carriers: dict[int, int] = {}
        for item in items:
            state = item.state
            if (
                state is not None
                and not state.erased
                and state.contact_ref in former
                and (item.type == "contact.updated" or state.contact_ref not in carriers)
            ):
                carriers[state.contact_ref] = item.delivery_id
        for contact_ref, emails in former.items():
            rows_left = former_rows(target=target, emails=emails)
            if contact_ref in carriers and not rows_left:
                del carriers[contact_ref]  # nothing left to turn off
            elif contact_ref in carriers:
                writes.extend((carriers[contact_ref], row) for row in rows_left)
        new: dict[str, tuple[int, ContactState]] = {}
        for delivery_id, state in touched.items():
            if state.contact_ref not in known and state.email:
                new.setdefault(state.email.lower(), (delivery_id, state))
        calls: list[_Call] = []
        # An erasure: HubSpot's GDPR delete of the record Candor created or found (HubSpot has no
        # batch form), by the id kept, as Candor no longer holds the address.
        for contact_ref, delivery_id in sorted(erased.items()):
            if contact_ref in known:
                calls.append(
                    _Call(
                        path=GDPR_DELETE,
                        body={"objectId": known[contact_ref]},
                        delivery_ids=[delivery_id],
                        forget=contact_ref,
                    )
                )
        upserts = sorted(new.items())
        for start in range(0, len(upserts), BATCH):
            chunk = upserts[start : start + BATCH]
            calls.append(
                _Call(
                    path=UPSERT,
                    body={
                        "inputs": [
                            {"id": email, "idProperty": "email", "properties": {"email": email}}
                            for email, _ in chunk
                        ]
                    },
                    delivery_ids=[delivery_id for _, (delivery_id, _) in chunk],
                    keep={email: state.contact_ref for email, (_, state) in chunk},
                )
            )
        rows = _one_per_address(writes, wide={email.lower() for _, email in wide})
        for start in range(0, len(rows), BATCH):
            chunk_rows = rows[start : start + BATCH]
            calls.append(
                _Call(
                    path=WRITE,
                    body={"inputs": [row for _, row in chunk_rows]},
                    delivery_ids=sorted({d for delivery_ids, _ in chunk_rows for d in delivery_ids}),
                )
            )
        for start in range(0, len(wide), BATCH):
            chunk_wide = wide[start : start + BATCH]
            calls.append(
                _Call(
                    path=UNSUBSCRIBE_ALL,
                    body={"inputs": sorted({email for _, email in chunk_wide})},
                    delivery_ids=[delivery_id for delivery_id, _ in chunk_wide],
                    query={"channel": "EMAIL"},
                )
            )
        return calls, carriers

    def push(self, target: Target, items: Sequence[Item], *, client: httpx.Client) -> list[PushResult]:
        """As few calls as the batch needs (see `_plan`); each delivery's outcome is that of the
        calls its contact was in (none: succeeded, nothing to push). A contact HubSpot has under an
        address it has since left in Candor is first given the new one (`hubspot_moves`)."""
        refs = [item.state.contact_ref for item in items if item.state is not None]
        kept = vendor_contacts_all(connector_public_id=target.public_id, contact_refs=refs)
        needed = moves_needed(items=items, kept=kept)
        notices = notices_read(target=target, kept=kept, items=items, moves=needed)
        moves = moves_unshared(target=target, moves=needed, notices=notices)
        stopped = contacts_move(adapter=self, target=target, moves=moves, client=client)
        if stopped is not None:
            # Retried whole; a refusal for good is only the moving contacts' (another's is retried).
            moving = {move.contact_ref for move in moves}
            return [stopped if item.contact_ref in moving else _not_tried(stopped) for item in items]
        stopped = erasures_unshared(adapter=self, target=target, items=items, kept=kept, client=client)
        if stopped is not None:
            erasing = {item.contact_ref for item in items if item.state is not None and item.state.erased}
            return [stopped if item.contact_ref in erasing else _not_tried(stopped) for item in items]
        if needed or any(item.state is not None and item.state.erased for item in items):
            # The ids and marks changed (a move, a shared record handed over).
            kept = vendor_contacts_all(connector_public_id=target.public_id, contact_refs=refs)
        left = left_marks(kept=kept, items=items)
        former = former_addresses(left=left, notices=notices)
        calls, carriers = self._plan(target, items, known=hubspot_ids(kept=kept), former=former)
        results = self._run(target, items=[item.delivery_id for item in items], calls=calls, client=client)
        self._former_done(target, items=items, results=results, left=left, carriers=carriers)
        return results

    def _former_done(
        self,
        target: Target,
        *,
        items: Sequence[Item],
        results: Sequence[PushResult],
        left: Mapping[int, list[str]],
        carriers: Mapping[int, int],
    ) -> None:
        """Drop the `moved` notices (and left marks) HubSpot needs no longer: where it took the
        "no" under the addresses left (their carrier went through whole), where nothing was owed
        (a contact.updated with no move: a phone, or an address HubSpot never had), and where an
        erasure was taken (the record is deleted by id: the addresses need not be kept)."""
        succeeded = {
            item.delivery_id for item, result in zip(items, results, strict=True) if result.succeeded
        }
        told = [ref for ref in left if ref not in carriers or carriers[ref] in succeeded]
        erasures: dict[int, int] = {}  # contact_ref -> the delivery that carries its GDPR delete
        for item in items:
            state = item.state
            if state is None:
                continue
            if state.erased:
                erasures.setdefault(state.contact_ref, item.delivery_id)
            elif item.type == "contact.updated" and state.contact_ref not in left:
                told.append(state.contact_ref)
        erased = [ref for ref, delivery_id in erasures.items() if delivery_id in succeeded]
        if told or erased:
            moved_notices_done(connector_public_id=target.public_id, contact_refs=told + erased)
        if erased:
            # Left marks too (a record gone from HubSpot has no id for the GDPR delete to forget).
            vendor_contacts_forget(connector_public_id=target.public_id, contact_refs=erased)
        marks = [mark for ref in told for mark in left.get(ref, [])]
        if marks:
            vendor_contacts_drop(connector_public_id=target.public_id, vendor_ids=marks)

    def _run(
        self, target: Target, *, items: list[int], calls: list[_Call], client: httpx.Client
    ) -> list[PushResult]:
        pending = dict.fromkeys(items, 0)
        for call in calls:
            for delivery_id in call.delivery_ids:
                pending[delivery_id] += 1
        last: dict[int, PushResult] = {}
        for index, call in enumerate(calls):
            result, response = self._post(target, call.path, call.body, client=client, query=call.query)
            if not result.succeeded:
                # Throttled, refused or down: call it no more in this batch; a delivery with a
                # call still to make fails and is retried whole (current state is idempotent).
                return [
                    result
                    if delivery_id in call.delivery_ids
                    else _not_tried(result)
                    if pending[delivery_id]
                    else last.get(delivery_id, NOTHING)
                    for delivery_id in items
                ]
            if call.keep and response is not None:
                self._keep_ids(target, call, response)
            if call.forget is not None:
                vendor_contacts_forget(connector_public_id=target.public_id, contact_refs=[call.forget])
            for delivery_id in call.delivery_ids:
                pending[delivery_id] -= 1
                last[delivery_id] = result
            wait = rate_wait(response) if response is not None else None
            if wait is not None and index + 1 < len(calls):
                # The window is spent: stop before HubSpot says 429, and come back after it.
                stopped = PushResult(
                    succeeded=False,
                    status_code=response.status_code if response is not None else None,
                    error="Not sent yet: HubSpot's rate-limit window is spent.",
                    retry_after=wait,
                )
                return [
                    stopped if pending[delivery_id] else last.get(delivery_id, NOTHING)
                    for delivery_id in items
                ]
        return [last.get(delivery_id, NOTHING) for delivery_id in items]

    def _keep_ids(self, target: Target, call: _Call, response: httpx.Response) -> None:
        ids: dict[str, int] = {}
        for row in response.json().get("results") or []:
            email = str((row.get("properties") or {}).get("email") or "").lower()
            if email in call.keep and row.get("id"):
                ids[str(row["id"])] = call.keep[email]
                # The mark of the address given, to see a later change without a call.
                ids[address_mark(contact_ref=call.keep[email], email=email)] = call.keep[email]
        vendor_contacts_keep(connector_public_id=target.public_id, ids=ids)

    # --- inbound -----------------------------------------------------------------------------

    def inbound(self, target: Target, request: InboundRequest) -> InboundAnswer:
        return hubspot_inbound(target, request)

    def poll(
        self, target: Target, watermark: str | None, *, client: httpx.Client
    ) -> tuple[list[VendorSignal], str | None]:
        return [], watermark  # HubSpot calls Candor: never polled

    # --- reconcile ---------------------------------------------------------------------------

    def expected(self, mapping: dict[str, Any], state: ContactState) -> dict[str, SlotState | None]:
        out: dict[str, SlotState | None] = {}
        # As push: unsubscribed from all email is HubSpot's unsubscribe-all, every type off.
        everything_off = bool(state.email) and not state.erased and state.unsubscribed_all.get("email", False)
        for entry in mapping.get("subscriptions", []):
            action = "UNSUBSCRIBED" if everything_off else subscription_action(state, entry)
            out[slot_name(entry["subscription_id"])] = (
                None if action is None else "subscribed" if action == "SUBSCRIBED" else "unsubscribed"
            )
        return out

    def vendor_read(
        self, target: Target, states: Sequence[ContactState], *, client: httpx.Client
    ) -> dict[int, dict[str, SlotState]]:
        """Two reads per 100 contacts: the statuses per type, and the unsubscribed-from-all."""
        mapped = [entry["subscription_id"] for entry in target.mapping.get("subscriptions", [])]
        by_email: dict[str, list[ContactState]] = {}
        for state in states:
            if state.email and not state.erased:
                by_email.setdefault(state.email.lower(), []).append(state)
        out: dict[int, dict[str, SlotState]] = {
            state.contact_ref: {slot_name(sid): "unknown" for sid in mapped} for state in states
        }
        emails = sorted(by_email)
        for start in range(0, len(emails), BATCH):
            chunk = emails[start : start + BATCH]
            statuses = self._read(target, READ, chunk, client=client)
            wide = self._read(target, READ_ALL, chunk, client=client)
            for row in statuses:
                email = str(row.get("subscriberIdString", "")).lower()
                for status in row.get("statuses") or []:
                    sid = str(status.get("subscriptionId"))
                    if sid not in mapped or status.get("channel") != "EMAIL":
                        continue
                    value = {"SUBSCRIBED": "subscribed", "UNSUBSCRIBED": "unsubscribed"}.get(
                        status.get("status", ""), "unknown"
                    )
                    for state in by_email.get(email, []):
                        out[state.contact_ref][slot_name(sid)] = value  # type: ignore[assignment]
            for row in wide:
                email = str(row.get("subscriberIdString", "")).lower()
                if any(w.get("status") == "UNSUBSCRIBED" for w in row.get("wideStatuses") or []):
                    for state in by_email.get(email, []):
                        out[state.contact_ref] = {slot_name(sid): "unsubscribed" for sid in mapped}
        return out

    def _read(self, target: Target, path: str, emails: list[str], *, client: httpx.Client) -> list[dict]:
        result, response = self._post(
            target, path, {"inputs": emails}, client=client, query={"channel": "EMAIL"}
        )
        if not result.succeeded or response is None:
            retry = f" Retry after {result.retry_after:.0f} s." if result.retry_after else ""
            raise VendorError(
                f"{result.error or 'HubSpot refused the read.'}{retry}", status_code=result.status_code
            )
        return list(response.json().get("results") or [])

    def slot_signal(
        self, mapping: dict[str, Any], slot: str, state: ContactState, *, event_id: str
    ) -> VendorSignal:
        subscription_id = slot.split(":")[1]
        entry: dict[str, Any] = next(
            (e for e in mapping.get("subscriptions", []) if e["subscription_id"] == subscription_id), {}
        )
        return VendorSignal(
            event_id=event_id,
            kind="unsubscribed",
            channel="email",
            email=state.email,
            external_id=state.external_id,
            topics=(entry["topic"],) if entry.get("topic") else (),
            purposes=(entry["purpose"],) if entry.get("purpose") else (),
            detail={"subscription_id": subscription_id, "found_by": "reconciler"},
        )

    def slots_turn_off(
        self, target: Target, offs: Sequence[tuple[ContactState, str]], *, client: httpx.Client
    ) -> list[PushResult]:
        """UNSUBSCRIBED, not NOT_SPECIFIED: an account without GDPR tools still mails a contact
        whose status is not specified, so only UNSUBSCRIBED stops HubSpot sending."""
        rows = [
            (
                index,
                {
                    "subscriberIdString": state.email,
                    "subscriptionId": int(slot.split(":")[1]),
                    "channel": "EMAIL",
                    "statusState": "UNSUBSCRIBED",
                },
            )
            for index, (state, slot) in enumerate(offs)
            if state.email
        ]
        calls = [
            _Call(
                path=WRITE,
                body={"inputs": [r for _, r in rows[s : s + BATCH]]},
                delivery_ids=[i for i, _ in rows[s : s + BATCH]],
            )
            for s in range(0, len(rows), BATCH)
        ]
        return self._run(target, items=list(range(len(offs))), calls=calls, client=client)


def _one_per_address(
    writes: list[tuple[int, dict[str, Any]]], *, wide: set[str]
) -> list[tuple[set[int], dict[str, Any]]]:
    """One status row per address and type, with the deliveries behind it. Candor contacts can
    share an address, and HubSpot keeps one status per address: their "no" wins over another's
    "yes", and an unsubscribe-all in the same batch over any "yes"."""
    rows: dict[tuple[str, int], tuple[set[int], dict[str, Any]]] = {}
    for delivery_id, row in writes:
        key = (str(row["subscriberIdString"]).lower(), int(row["subscriptionId"]))
        if row["statusState"] == "SUBSCRIBED" and key[0] in wide:
            continue
        owners, kept = rows.get(key, (set(), row))
        if row["statusState"] == "UNSUBSCRIBED":
            kept = row
        rows[key] = (owners | {delivery_id}, kept)
    return [rows[key] for key in sorted(rows)]


def _not_tried(result: PushResult) -> PushResult:
    return PushResult(
        succeeded=False,
        status_code=result.status_code,
        error="Not sent: an earlier call of the batch failed.",
        retry_after=result.retry_after,
    )


def _error_detail(response: httpx.Response, secrets: dict[str, Any]) -> str:
    try:
        body = response.json()
        detail = f"{body.get('category', '')}: {body.get('message', '')}"
    except (ValueError, AttributeError):
        detail = response.text[:200]
    return redact(detail, secrets)[:300]
