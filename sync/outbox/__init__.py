"""The outbox: every change becomes an Event, written in the transaction that made the change,
and the changes feed reads them back in commit order.

- `events`: writing events (`event_build`, `event_record`, `brand_event_record`) and retention
  (`events_prune`).
- `listeners`: how readers of the outbox hear that events were written (`events_announce`) or
  that a contact was erased (`contact_erased_announce`).
- `feed`: the feed's reads, by (txid, id) position (`events_feed`, `feed_end`).
- `serializers`, `api`: the event JSON and GET /api/v1/events.

The outbox is the layer under the domain apps and above `brands`. It never imports
`sync.delivery` (webhooks) or a connector: they read the outbox, and plug into it through
`listeners` (see sync.apps).
"""
