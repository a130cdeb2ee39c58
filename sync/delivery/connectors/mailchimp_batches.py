"""Mailchimp batch operations, for a backfill's large batches.

Read from the Marketing API reference (batches: "Start batch operation", "Get batch operation
status", "Delete batch request"), its guide "Run Async Requests with the Batch Endpoint", and
Mailchimp's published OpenAPI description (as generated into github.com/Hevelop/go-client-
mailchimp-marketing-api, api/openapi.yaml: `postBatches_request`, `Operations`, `Batch`):

- `POST /batches` `{"operations": [{"method", "path", "body" (the JSON body as a string),
  "operation_id"}]}` answers 200 with the batch at once (`id`, `status` "pending"); Mailchimp runs
  the operations later, one batch at a time, each as the same call made directly would run.
- `GET /batches/{id}`: `status` pending -> preprocessing -> started -> finalizing -> finished,
  with `total_operations`, `finished_operations`, `errored_operations`; once finished,
  `response_body_url` names a gzipped tar archive of JSON files, each a list of
  `{"status_code", "operation_id", "response"}` (`response`: the operation's answer, a JSON
  string). The URL is pre-signed storage on another host: it is fetched without the API key.
- `DELETE /batches/{id}` stops a batch that has not run yet.

The switch: a backfill calls `push_bulk` (the adapter's optional bulk method, sync.delivery.
connectors.backfill prefers it when present) with up to `BULK_BATCH` (5000) contacts. A batch of
`BATCH_MAX` (500) or fewer still takes the synchronous batch members call (`POST /lists/{id}`,
one per list): its outcome comes back in the call, and waiting for a queued batch would only
slow a small backfill. Above that, one `POST /batches` carries one operation per member: `PUT
/lists/{id}/members/{subscriber hash}` with the same member body the synchronous call sends
(`member_body`: `status_if_new` for a new member, `status` only when Candor has one to say, the
interests and permissions), `operation_id` `<list>:<subscriber hash>`. Each operation's result
maps back to the contacts of that member: 200 done; "Member In Compliance State" and "Forgotten
Email Not Subscribed" are Mailchimp's own "no", kept (the contact succeeds, never resubscribed
nor sent `pending`); a 429 or 5xx is retried; any other refusal fails that contact for good
and leaves the others as they are. A live delivery never comes here: it must know its outcome
within its claim's lease, which a queued batch cannot promise.

Waiting is bounded: the status is read after 1 s, then twice as long each time up to
`POLL_MAX`, for at most `WAIT_MAX` seconds (a 429 on a read waits Retry-After, or
THROTTLED_DELAY, and reads again); each read first renews the caller's lease (`heartbeat`),
and stops if it was lost. A batch not finished by then is deleted (it must not run later over
a newer push) and the whole batch is retried by the caller.

A push answered asynchronously can land after a newer one: the backfill reads again, once the
results are in, the state of the contacts it sent and pushes synchronously those that changed
meanwhile. A worker that dies between submit and results leaves its batch queued in Mailchimp;
the resumed run pushes the same contacts again, in a batch Mailchimp runs after it (one at a
time, in order), so the newer state lands last, and a member, keyed by its hash, is never
duplicated.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import tarfile
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from sync.delivery.connectors.mailchimp_api import (
    BATCH_MAX,
    EXCERPT,
    NOTHING,
    THROTTLED_DELAY,
    api_auth,
    api_root,
    member_outcome,
    not_tried,
    outcome_merged,
    problem_text,
    refused,
    retry_after_seconds,
    subscriber_hash,
)
from sync.delivery.connectors.mailchimp_rule import member_body, member_plans
from sync.delivery.connectors.vendors import Item, PushResult, Target, VendorError, redact


class MemberPusher(Protocol):
    """What a bulk push needs of Mailchimp's adapter (sync.delivery.connectors.mailchimp), which
    calls this module: its synchronous push, its erasure, the ids it keeps and the members it
    moves to a contact's new address."""

    def push(self, target: Target, items: Sequence[Item], *, client: httpx.Client) -> list[PushResult]: ...

    def erase(
        self, target: Target, items: Sequence[Item], *, client: httpx.Client
    ) -> tuple[dict[int, PushResult], PushResult | None]: ...

    def keep_members(self, target: Target, items: Sequence[Item], plans: Any) -> None: ...

    def move_members(
        self, target: Target, items: Sequence[Item], plans: Any, *, client: httpx.Client
    ) -> PushResult | None: ...


POLL_FIRST = 1.0  # seconds before the first status read
POLL_MAX = 15.0  # the longest pause between reads (well within the backfill's lease)
WAIT_MAX = 600.0  # the longest a batch is waited for before it is deleted and retried
STATUS_FIELDS = "id,status,total_operations,finished_operations,errored_operations,response_body_url"
ARCHIVE_MAX = 64 * 1024 * 1024  # bytes: a results archive larger than this is not read


def _pause(seconds: float) -> None:
    time.sleep(seconds)


class BulkFailed(Exception):
    """The batch as a whole did not work: every delivery in it gets `result`."""

    def __init__(self, result: PushResult) -> None:
        super().__init__(result.error)
        self.result = result


def bulk_push(
    adapter: MemberPusher,
    target: Target,
    items: Sequence[Item],
    *,
    client: httpx.Client,
    heartbeat: Callable[[], bool],
) -> list[PushResult]:
    if len(items) <= BATCH_MAX:
        return adapter.push(target, items, client=client)
    erased, stopped = adapter.erase(target, items, client=client)
    if stopped is not None:
        return [erased.get(item.delivery_id) or not_tried(stopped) for item in items]
    plans = member_plans(target.mapping, items)
    operations: list[dict[str, str]] = []
    answers: dict[str, tuple[str, list[int]]] = {}  # operation id -> (list, deliveries)
    for list_id, members in sorted(plans.items()):
        for key, (email, plan, delivery_ids) in sorted(members.items()):
            member_hash = subscriber_hash(key)
            operation_id = f"{list_id}:{member_hash}"
            operations.append(
                {
                    "method": "PUT",
                    "path": f"/lists/{list_id}/members/{member_hash}",
                    "operation_id": operation_id,
                    "body": json.dumps(member_body(email, plan), separators=(",", ":")),
                }
            )
            answers[operation_id] = (list_id, delivery_ids)
    if not operations:
        return [erased.get(item.delivery_id, NOTHING) for item in items]
    stopped = adapter.move_members(target, items, plans, client=client)
    if stopped is not None:
        return [erased.get(item.delivery_id) or not_tried(stopped) for item in items]
    adapter.keep_members(target, items, plans)
    in_batch = {d for _, delivery_ids in answers.values() for d in delivery_ids}
    try:
        batch_id = _submit(target, operations, client=client)
        url = _await(target, batch_id, client=client, heartbeat=heartbeat)
        rows = _results(target, url, client=client)
    except BulkFailed as failed:
        return [
            erased.get(item.delivery_id) or (failed.result if item.delivery_id in in_batch else NOTHING)
            for item in items
        ]
    results: dict[int, PushResult] = {}
    for operation_id, (list_id, delivery_ids) in answers.items():
        row = rows.get(operation_id)
        if row is None:
            # Not in the archive (Mailchimp lost it): pushed again with the batch.
            outcome = PushResult(
                succeeded=False, error=f"Mailchimp's results name no outcome for a member of list {list_id}."
            )
        elif row[0] == 0:
            outcome = PushResult(
                succeeded=False, error=f"Mailchimp's results give no status for a member of list {list_id}."
            )
        else:
            status, answer = row
            outcome = member_outcome(
                target=target, list_id=list_id, status=status, error="" if status < 300 else answer
            )
        for delivery_id in delivery_ids:
            results[delivery_id] = outcome_merged(results.get(delivery_id), outcome)
    return [erased.get(item.delivery_id) or results.get(item.delivery_id, NOTHING) for item in items]


def _call(target: Target, method: str, path: str, *, client: httpx.Client, **kwargs: Any) -> httpx.Response:
    try:
        return client.request(method, f"{api_root(target)}{path}", auth=api_auth(target), **kwargs)
    except VendorError as exc:
        raise BulkFailed(PushResult(succeeded=False, error=str(exc), status_code=exc.status_code)) from exc
    except httpx.TimeoutException as exc:
        raise BulkFailed(PushResult(succeeded=False, error="Mailchimp did not answer in time.")) from exc
    except httpx.HTTPError as exc:
        error = redact(f"{type(exc).__name__}: {exc}", target.credentials)[:300]
        raise BulkFailed(PushResult(succeeded=False, error=error)) from exc


def _submit(target: Target, operations: list[dict[str, str]], *, client: httpx.Client) -> str:
    response = _call(
        target,
        "POST",
        "/batches",
        client=client,
        content=json.dumps({"operations": operations}, separators=(",", ":")).encode(),
        headers={"content-type": "application/json"},
    )
    if response.status_code != 200:
        raise BulkFailed(refused(response, target, what="the batch operations request"))
    batch_id = _json(response).get("id")
    if not isinstance(batch_id, str) or not batch_id:
        raise BulkFailed(PushResult(succeeded=False, status_code=200, error="Mailchimp's batch has no id."))
    return batch_id


def _await(
    target: Target,
    batch_id: str,
    *,
    client: httpx.Client,
    heartbeat: Callable[[], bool],
) -> str:
    """The finished batch's results URL; BulkFailed if it did not finish in WAIT_MAX (then it is
    deleted) or the lease was lost."""
    waited, pause = 0.0, POLL_FIRST
    while True:
        _pause(pause)
        waited += pause
        if not heartbeat():
            raise BulkFailed(PushResult(succeeded=False, error="The run's lease was lost while waiting."))
        response = _call(
            target,
            "GET",
            f"/batches/{batch_id}",
            client=client,
            params={"fields": STATUS_FIELDS},
        )
        if response.status_code == 404:
            # Deleted, or expired: the contacts are pushed again.
            raise BulkFailed(
                PushResult(
                    succeeded=False, status_code=404, error=f"Mailchimp no longer has batch {batch_id}."
                )
            )
        if response.status_code == 429:
            # One connection too many: read again after the wait, the batch runs on meanwhile.
            pause = retry_after_seconds(response.headers.get("retry-after")) or THROTTLED_DELAY
        elif response.status_code != 200:
            raise BulkFailed(refused(response, target, what=f"the status read of batch {batch_id}"))
        else:
            batch = _json(response)
            if batch.get("status") == "finished":
                url = batch.get("response_body_url")
                if not isinstance(url, str) or not url:
                    raise BulkFailed(
                        PushResult(
                            succeeded=False, status_code=200, error="Mailchimp's batch has no results URL."
                        )
                    )
                return url
            pause = min(pause * 2, POLL_MAX)
        if waited >= WAIT_MAX:
            _delete(target, batch_id, client=client)
            raise BulkFailed(
                PushResult(
                    succeeded=False,
                    error=f"Mailchimp's batch did not finish in {int(WAIT_MAX)} s: deleted, pushed again.",
                    retry_after=POLL_MAX,
                )
            )


def _delete(target: Target, batch_id: str, *, client: httpx.Client) -> None:
    """Stop a batch that has not finished, so it cannot run later over a newer push."""
    # If that fails too, the retry's batch still runs after this one (one at a time, in order).
    with contextlib.suppress(BulkFailed):
        _call(target, "DELETE", f"/batches/{batch_id}", client=client)


def _results(target: Target, url: str, *, client: httpx.Client) -> dict[str, tuple[int, str]]:
    """operation id -> (status code, the operation's answer), from the results archive."""
    scheme = urlsplit(url).scheme
    if scheme != "https" and not (scheme == "http" and settings.WEBHOOK_ALLOW_PRIVATE):
        raise BulkFailed(PushResult(succeeded=False, error="Mailchimp's results URL is not https."))
    try:
        # Pre-signed storage: no API key goes with it.
        response = client.get(url)
    except httpx.TimeoutException as exc:
        raise BulkFailed(
            PushResult(succeeded=False, error="Mailchimp's results did not arrive in time.")
        ) from exc
    except httpx.HTTPError as exc:
        raise BulkFailed(
            PushResult(succeeded=False, error=f"Mailchimp's results: {type(exc).__name__}.")
        ) from exc
    if response.status_code != 200:
        raise BulkFailed(
            PushResult(
                succeeded=False,
                status_code=response.status_code,
                excerpt=redact(response.text[:EXCERPT], target.credentials),
                error=f"Mailchimp's results archive answered {response.status_code}.",
            )
        )
    if len(response.content) > ARCHIVE_MAX:
        raise BulkFailed(
            PushResult(succeeded=False, error="Mailchimp's results archive is too large to read.")
        )
    rows: dict[str, tuple[int, str]] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(response.content)), mode="r:") as archive:
            for member in archive.getmembers():
                if not member.isfile() or member.size > ARCHIVE_MAX:
                    continue
                handle = archive.extractfile(member)
                if handle is None:
                    continue
                for row in json.load(handle):
                    answer = row.get("response")
                    rows[str(row.get("operation_id"))] = (
                        int(row.get("status_code") or 0),
                        answer if isinstance(answer, str) else json.dumps(answer),
                    )
    except (OSError, EOFError, tarfile.TarError, ValueError, AttributeError, TypeError) as exc:
        raise BulkFailed(
            PushResult(
                succeeded=False,
                error=f"Mailchimp's results archive could not be read ({type(exc).__name__}).",
            )
        ) from exc
    return {
        operation_id: (status, _detail(answer, target)) for operation_id, (status, answer) in rows.items()
    }


def _detail(answer: str, target: Target) -> str:
    """An operation's answer as the synchronous call's error text: a problem's title and detail."""
    try:
        body = json.loads(answer)
    except ValueError:
        return redact(answer[:EXCERPT], target.credentials)
    if not isinstance(body, dict) or "status" not in body or "title" not in body:
        return ""
    return problem_text(httpx.Response(int(body.get("status") or 400), json=body), target)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise BulkFailed(
            PushResult(
                succeeded=False, status_code=response.status_code, error="Mailchimp's answer was not JSON."
            )
        ) from exc
    if not isinstance(body, dict):
        raise BulkFailed(
            PushResult(
                succeeded=False,
                status_code=response.status_code,
                error="Mailchimp's answer was not an object.",
            )
        )
    return body
