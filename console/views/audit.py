"""The audit log (owners only): the brand's entries newest first, filtered, one keyset page at
a time, and the same entries as a download (CSV or JSON lines, as `manage.py export_audit`
writes them). Read-only: nothing here takes a POST."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from brands.audit import ActorKind
from brands.audit_api import audit_entry_document
from brands.management.commands.export_audit import CSV_COLUMNS, csv_row
from brands.models import Brand
from brands.selectors import AuditPage, audit_entries_list
from console.access import OWNER, Console, brand_page
from console.filters import AuditExportForm, AuditFilterForm
from console.pages import render, render_kept

PAGE_SIZE = 50
ACTOR_KINDS = {
    ActorKind.STAFF.value: _("Staff"),
    ActorKind.API_KEY.value: _("API key"),
    ActorKind.OPERATOR.value: _("Operator"),
    ActorKind.SYSTEM.value: _("Candor"),
}
EXPORT_PAGE = 1000


def _selection(data: dict[str, Any]) -> dict[str, Any]:
    """The selector's filters from a valid form: days as UTC times, `to` included."""
    start, end = data.get("from"), data.get("to")
    return {
        "actions": [data["action"]] if data.get("action") else (),
        "actor_ref": data.get("actor") or None,
        "target_type": data.get("target_type") or None,
        "target_id": data.get("target_id") or None,
        "since": datetime.combine(start, time.min, tzinfo=UTC) if start else None,
        "until": datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC) if end else None,
    }


def _filters_query(request: HttpRequest, **extra: str) -> str:
    query = {
        name: str(value) for name, value in request.GET.items() if name not in ("after", "format") and value
    }
    return urlencode({**query, **extra})


@brand_page(read=OWNER)
def audit(request: HttpRequest, brand_slug: str) -> HttpResponse:
    brand = request.console.brand  # type: ignore[attr-defined]
    # The brand and its log's entry count name the log's state (entries never change); with the
    # address (the filters, the page) and the language, which render_kept adds, that is
    # everything the page shows.
    key = ("audit", brand.pk, brand.audit_log_entries)
    return render_kept(request, "console/audit.html", key, lambda: _page(request, brand))


def _page(request: HttpRequest, brand: Brand) -> tuple[dict[str, Any], int]:
    form = AuditFilterForm(request.GET)
    page: AuditPage | None = None
    if form.is_valid():
        page = audit_entries_list(
            brand=brand,
            **_selection(form.cleaned_data),
            after=form.cleaned_data["after"],
            limit=PAGE_SIZE,
        )
    entries = []
    kinds = {kind: str(label) for kind, label in ACTOR_KINDS.items()}  # translated once, not per row
    for entry in page.entries if page else []:
        document = audit_entry_document(entry)
        changed = sorted({*(entry.before or {}), *(entry.after or {})})
        document["changes"] = [
            (name, _shown(entry.before, name), _shown(entry.after, name)) for name in changed
        ]
        # As the template's date filter wrote it: the times are UTC (settings.TIME_ZONE).
        document["at"] = entry.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        document["actor_kind"] = kinds.get(entry.actor_kind, entry.actor_kind)
        entries.append(document)
    following = None
    if page is not None and page.next is not None:
        following = f"{request.path}?{_filters_query(request, after=f'{page.next.at_us}.{page.next.id}')}"
    filters = _filters_query(request)
    context = {
        "form": form,
        "errors": form.error_summary(),
        "entries": entries,
        "next": following,
        "first": f"{request.path}?{filters}" if filters else request.path,
        "export_csv": f"{request.path}export/?{_filters_query(request, format='csv')}",
        "export_jsonl": f"{request.path}export/?{_filters_query(request, format='jsonl')}",
    }
    return context, 200 if form.is_valid() else 400


def _shown(values: dict[str, Any] | None, name: str) -> str:
    if values is None or name not in values:
        return "–"
    value = values[name]
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)


@brand_page(read=OWNER)
def audit_export(request: HttpRequest, brand_slug: str) -> HttpResponse:
    """The entries the filters select, newest first, streamed page by page so memory stays
    flat however long the log."""
    console: Console = request.console  # type: ignore[attr-defined]
    form = AuditExportForm(request.GET)
    if not form.is_valid():
        context = {
            "form": form,
            "errors": form.error_summary(),
            "entries": [],
            "next": None,
            "first": request.path.removesuffix("export/"),
            "export_csv": None,
            "export_jsonl": None,
        }
        return render(request, "console/audit.html", context, status=400)
    data = form.cleaned_data
    as_csv = data["format"] == "csv"
    lines = _export_lines(console.brand, _selection(data), as_csv=as_csv)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response = StreamingHttpResponse(
        lines, content_type="text/csv; charset=utf-8" if as_csv else "application/jsonl; charset=utf-8"
    )
    extension = "csv" if as_csv else "jsonl"
    response["Content-Disposition"] = f'attachment; filename="audit-{console.brand.slug}-{stamp}.{extension}"'
    return response  # type: ignore[return-value]  # streamed; the access check passes it on as it is


def _export_lines(brand: Brand, selection: dict[str, Any], *, as_csv: bool) -> Iterator[str]:
    if as_csv:
        yield _csv_line(CSV_COLUMNS)
    after = None
    while True:
        page = audit_entries_list(brand=brand, **selection, after=after, limit=EXPORT_PAGE)
        for entry in page.entries:
            document = audit_entry_document(entry)
            if as_csv:
                yield _csv_line(csv_row(document))
            else:
                yield json.dumps(document, sort_keys=True, ensure_ascii=False) + "\n"
        if page.next is None:
            return
        after = page.next


def _csv_line(cells: list[str]) -> str:
    line = io.StringIO()
    csv.writer(line, lineterminator="\n").writerow(cells)
    return line.getvalue()
