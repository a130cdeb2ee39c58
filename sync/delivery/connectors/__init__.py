"""Connectors: a brand's link to a CRM or marketing tool, as another kind of delivery target.

A Connector (sync.models) owns one Endpoint of kind `connector`. Everything before the send step
is the webhooks' code, unchanged: fan-out from the changes feed by the endpoint's cursor, claims
with leases, per-contact order (a batch holds at most one delivery per contact, the earliest
pending), retries with backoff and Retry-After, disabling after days of failures, the sweeper and
the delivery log (`GET /api/v1/connectors/{id}/deliveries` reads the same rows). Only
sync.delivery.batches looks at the kind: a webhook batch POSTs signed bodies one by one as
before; a connector batch goes to `push.connector_batch_push`, which

1. reads the batch's contacts' CURRENT state at send time (sync.outbox.contact_state; the
   domain supplies it), not the state an event described, so a retried or late delivery never
   pushes an older "subscribed" over a later withdrawal, and an opt-out always wins;
2. hands them to the vendor's adapter (`vendors.adapter_for`), which maps them onto the vendor's
   own consent model through the connector's mapping and makes as few batch calls as the
   vendor allows, and answers one outcome per delivery (succeeded; failed and retried, with the
   vendor's Retry-After; or failed for good when the vendor rejects the request itself);
3. records those outcomes with the webhooks' recording (sync.delivery.recording).

Credentials are Fernet-encrypted at rest (`crypto`), decrypted only in the worker for the call,
never logged, never returned by the API and redacted from the delivery log. Every vendor call
goes through the webhooks' HTTP client and its SSRF guard (sync.delivery.ssrf).

Modules: `crypto`, `vendors` (the adapter interface and registry), `klaviyo`, `mailchimp` (with
`mailchimp_batches`, batch operations for backfills),
`salesforce` (with `salesforce_auth`, `salesforce_inbound`; polled by `polling`), `push`,
`services`, `selectors`, `serializers`, `api`.
"""
