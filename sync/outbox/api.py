"""The changes feed: GET /api/v1/events."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request

from brands.api import BrandApiView
from brands.models import Scope
from config.api import ERRORS, decode_cursor_parts, encode_cursor, parse_limit
from config.errors import Unprocessable
from sync.models import EventType
from sync.outbox import feed
from sync.outbox.serializers import EventFeedOut, event_list_json

FEED_DEFAULT_LIMIT = 100
FEED_MAX_LIMIT = 1000


def feed_position(request: Request) -> feed.FeedPosition:
    """`after` (or `cursor`, the name other lists use; not both) → a position; none → the start."""
    after, cursor = request.query_params.get("after"), request.query_params.get("cursor")
    if after and cursor and after != cursor:
        raise Unprocessable.for_field("after", "Give the cursor once, as after.")
    if not (after or cursor):
        return feed.FEED_START
    field = "after" if after else "cursor"
    return feed.FeedPosition(*decode_cursor_parts(after or cursor or "", count=2, field=field))


def feed_types(request: Request) -> list[str]:
    """type=a,b (or type=a&type=b) → the event types asked for, each one known."""
    names = [name.strip() for raw in request.query_params.getlist("type") for name in raw.split(",")]
    wanted = sorted({name for name in names if name})
    unknown = [name for name in wanted if name not in EventType.values]
    if unknown:
        message = f"Unknown event type(s): {', '.join(unknown)}. Known: {', '.join(EventType.values)}."
        raise Unprocessable.for_field("type", message)
    return wanted


class EventFeedApi(BrandApiView):
    required_scopes = {"GET": {Scope.EVENTS_READ}}

    @extend_schema(
        operation_id="events_feed",
        summary="Read the changes feed",
        tags=["Changes feed"],
        description="The brand's outbox events in commit order. Start without `after`, then pass each "
        "reply's `next_cursor`: every event is seen exactly once, even while writes go on. When "
        "`has_more` is false, wait a little (a few seconds) and ask again with the same cursor. "
        "Events are kept for EVENT_RETENTION_DAYS (30 by default).",
        parameters=[
            OpenApiParameter("after", str, description="next_cursor of the previous reply; omit to start"),
            OpenApiParameter("limit", int, description=f"1–{FEED_MAX_LIMIT}, default {FEED_DEFAULT_LIMIT}"),
            OpenApiParameter(
                "type",
                str,
                description="Only these event types, comma-separated, "
                "e.g. consent.withdrawn,contact.unsubscribed. Known: " + ", ".join(EventType.values),
            ),
        ],
        responses={200: EventFeedOut, **ERRORS},
    )
    def get(self, request: Request) -> HttpResponse:
        after = feed_position(request)
        limit = parse_limit(
            request.query_params.get("limit"), default=FEED_DEFAULT_LIMIT, maximum=FEED_MAX_LIMIT
        )
        types = feed_types(request)
        page = feed.events_feed_json(brand=self.principal().brand, after=after, limit=limit, types=types)
        # The events come as JSON text (up to a thousand of them: parsing and encoding them again
        # would be most of the request's time), so the reply is assembled here rather than by
        # the renderer. Content negotiation, authentication and throttling have run as usual.
        content = event_list_json(
            page.events, next_cursor=encode_cursor(*page.next_position), has_more=page.has_more
        )
        return HttpResponse(content, content_type="application/json")
