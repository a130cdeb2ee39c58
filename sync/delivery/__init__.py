"""Webhook delivery: endpoints, fan-out from the changes feed, and signed delivery with retries.

Delivery reads the outbox (sync.outbox) and never the domain apps; nothing outside this package
imports it but the interfaces (sync.tasks, sync.apps, the endpoints API in .api, config.urls).
The outbox reaches it only through the listeners sync.apps registers (sync.outbox.listeners):
`nudge.fanout_nudge` after events are written, `erasure.deliveries_forget_contact` when a
contact is erased. The connectors will plug in the same way.

How an event reaches a receiver:

1. A domain service writes an outbox Event and calls sync.outbox.listeners.events_announce; the
   fan-out nudge (`nudge`) asks, after COMMIT, each of the brand's active endpoints for an
   `endpoint_fanout` task.
2. `fanout.endpoint_fanout` reads the brand's feed after the endpoint's cursor
   (sync.outbox.feed.events_feed: commit order, nothing skipped), inserts one Delivery per event
   (`bodies`; a second run inserts nothing) and moves the cursor, in one short transaction; then
   sends a batch of the endpoint's ready deliveries itself, as `delivery_send` does (below),
   handing more to the broker if there are (`dispatch`, `broker`). A new endpoint's cursor starts
   at the end of the feed: it receives what happens after it was created, not the history (the
   feed API serves that).
3. `batches.delivery_send` claims a delivery with a lease (`claims`: a conditional UPDATE), and
   with it up to BATCH_SIZE - 1 more of its endpoint's ready deliveries under the same lease;
   signs each (Standard Webhooks) and POSTs them one after another with no database transaction
   open (`sending`), and records the Attempts together (`recording`, `retries`). A delivery is
   "ready" when it is pending, due, not leased, and the earliest pending one of its contact for
   its endpoint (so each receiver sees a contact's events in sequence order: a batch holds at
   most one per contact); at most WEBHOOK_MAX_IN_FLIGHT claims per endpoint are in flight at
   once, each sending one request at a time and starting none after BATCH_SECONDS (a slow
   receiver cannot take every worker). A batch stops at its first failed attempt and gives back
   what it did not send; each batch hands the endpoint's next ready delivery to the broker.
4. `sweeper.deliveries_sweep` (beat, every few seconds) repairs whatever a lost message or a dead
   worker left behind: endpoints whose cursor is behind the feed, and ready deliveries nobody has
   handed to the broker lately (including those whose lease ran out).

Delivery is at least once: a receiver deduplicates on the webhook-id header.

The modules, lowest first: `statements` (the hot path's shared SQL), `broker`, `selectors`,
`bodies`, `retries`, `ssrf`, `sending`, `claims`, `dispatch`, `endpoints` (and test messages),
`recording`, `batches`, `fanout`, `redelivery`, `sweeper`, `erasure`, `nudge`; then `serializers`
and `api`.
"""
