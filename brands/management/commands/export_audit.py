from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from brands.audit_api import audit_entry_document
from brands.models import Brand
from brands.selectors import audit_entries_list

PAGE = 1000
CSV_COLUMNS = [
    "id",
    "at",
    "actor_kind",
    "actor_ref",
    "actor_name",
    "action",
    "target_type",
    "target_id",
    "before",
    "after",
    "reason",
    "transaction",
]
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP: CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _since(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--since {value!r}: use an ISO 8601 time, e.g. 2026-11-22T00:00:00Z.") from None
    if parsed.tzinfo is None:
        raise CommandError(f"--since {value!r}: give the offset or Z, e.g. 2026-11-22T00:00:00Z.")
    return parsed.astimezone(UTC)


def _cell(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def csv_row(document: dict[str, Any]) -> list[str]:
    """One entry as a CSV row: before and after as JSON text, text cells safe from formulas."""
    flat = {
        **{name: document[name] for name in ("id", "at", "action", "reason", "transaction")},
        "actor_kind": document["actor"]["kind"],
        "actor_ref": document["actor"]["ref"],
        "actor_name": document["actor"]["name"],
        "target_type": document["target"]["type"],
        "target_id": document["target"]["id"],
        "before": "" if document["before"] is None else json.dumps(document["before"], sort_keys=True),
        "after": "" if document["after"] is None else json.dumps(document["after"], sort_keys=True),
    }
    return [_cell(str(flat[name])) for name in CSV_COLUMNS]


class Command(BaseCommand):
    help = (
        "Write a brand's audit log, newest first, as JSON lines (one entry per line, as "
        "GET /api/v1/audit answers it) or CSV. Streams page by page: memory stays flat however "
        "long the log."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--brand", required=True, help="The brand's slug")
        parser.add_argument("--since", help="Only entries from this time on (ISO 8601 with offset)")
        parser.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")

    def handle(self, *args: Any, **options: Any) -> None:
        brand = Brand.objects.filter(slug=options["brand"]).first()
        if brand is None:
            raise CommandError(f"No brand '{options['brand']}'.")
        since = _since(options["since"]) if options["since"] else None
        as_csv = options["format"] == "csv"
        if as_csv:
            self._csv_line(CSV_COLUMNS)
        after = None
        while True:
            page = audit_entries_list(brand=brand, since=since, after=after, limit=PAGE)
            for entry in page.entries:
                document = audit_entry_document(entry)
                if as_csv:
                    self._csv_line(csv_row(document))
                else:
                    self.stdout.write(json.dumps(document, sort_keys=True, ensure_ascii=False))
            if page.next is None:
                return
            after = page.next

    def _csv_line(self, cells: list[str]) -> None:
        line = io.StringIO()
        csv.writer(line, lineterminator="\n").writerow(cells)
        self.stdout.write(line.getvalue(), ending="")
