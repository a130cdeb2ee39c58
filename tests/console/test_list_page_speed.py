"""What made the console's list pages cheap (bench, "A console list page") keeps their behaviour:
the filters drawn by console/_filters.html are the elements Django's widgets draw, the access
check is one query that still refuses at once after a change of role, a removed membership or a
removed second factor, and the audit table shows what it showed."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest
from allauth.mfa.models import Authenticator
from django.db import connection
from django.http import QueryDict
from django.template import engines
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from brands.models import AuditEntry, Membership
from console.filters import AuditExportForm, AuditFilterForm, ConsentEventsForm, ContactsForm

AUDIT = "/console/acme/audit/"


class _Elements(HTMLParser):
    """Each start tag with its attributes (as a dict: their order means nothing) and each text,
    whitespace collapsed."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[Any] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        self.found.append(("/", tag))

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if text:
            self.found.append(text)


def elements(html: str) -> list[Any]:
    parser = _Elements()
    parser.feed(html)
    return parser.found


EACH = "{% for n in names %}{{ draw(form[n]) }}{% endfor %}"
WIDGETS = '{% from "elements/field.html" import field as draw %}' + EACH
OURS = '{% from "console/_filters.html" import filter_field as draw %}' + EACH


def drawn(source: str, form: Any, names: list[str]) -> list[Any]:
    request = RequestFactory().get("/console/acme/audit/")
    return elements(engines["pages"].from_string(source).render({"form": form, "names": names}, request))


AUDIT_NAMES = ["action", "actor", "target_type", "target_id", "from", "to"]
PURPOSES = [("email-marketing", "Email marketing"), ("product-news", "Product news")]


def audit_form(query: str) -> Any:
    return AuditFilterForm(QueryDict(query))


def export_form(query: str) -> Any:
    return AuditExportForm(QueryDict(query))


def events_form(query: str) -> Any:
    return ConsentEventsForm(
        ConsentEventsForm.data_of(QueryDict(query)),
        purposes=PURPOSES,
        sources=[("api", "API"), ("gpc", "GPC")],
    )


def contacts_form(query: str) -> Any:
    return ContactsForm(
        QueryDict(query),
        purposes=PURPOSES,
        topics=[("newsletter", "Newsletter")],
        states=[("subscribed", "In")],
    )


EVENT_NAMES = ["purpose", "decision", "source", "from", "to"]
CONTACT_NAMES = ["purpose", "consent", "topic", "channel", "subscription", "cadence"]


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize(
    ("make", "names", "query"),
    [
        (audit_form, AUDIT_NAMES, ""),
        (
            audit_form,
            AUDIT_NAMES,
            "action=topic.updated&actor=cnd_x&target_type=topic&target_id=a%22b&from=2026-11-01&to=2026-11-02",
        ),
        (audit_form, AUDIT_NAMES, "action=brand.exploded&from=yesterday&target_id=offers"),
        (audit_form, AUDIT_NAMES, f"actor={'x' * 151}&from=2026-11-25&to=2026-11-01"),
        (export_form, [*AUDIT_NAMES, "format"], "format=xml"),
        (export_form, [*AUDIT_NAMES, "format"], "format=jsonl"),
        (events_form, EVENT_NAMES, ""),
        (events_form, EVENT_NAMES, "purpose=product-news&decision=granted&source=gpc&day=2026-11-03"),
        (events_form, EVENT_NAMES, "purpose=nope&decision=maybe&from=2026-13-01"),
        (contacts_form, CONTACT_NAMES, "purpose=email-marketing&consent=granted"),
        (contacts_form, CONTACT_NAMES, "purpose=email-marketing&topic=newsletter&channel=pigeon"),
    ],
)
def test_the_filters_are_the_elements_djangos_widgets_draw(make, names, query, language):
    with translation.override(language):
        form = make(query)
        form.is_valid()
        widgets = drawn(WIDGETS, form, names)
        ours = drawn(OURS, form, names)
    assert ours == widgets
    assert len([e for e in ours if e[0] in ("input", "select")]) == len(names)


def test_the_audit_page_draws_its_filters_without_djangos_widgets(brand, make_staff, signed_in, monkeypatch):
    client = signed_in(make_staff(brand, "owner"))

    def refused(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("a widget was rendered through Django's templates")

    monkeypatch.setattr("django.forms.widgets.Widget.render", refused)
    response = client.get(f"{AUDIT}?action=brand.exploded&actor=someone")
    assert response.status_code == 400
    page = response.content.decode()
    assert '<input type="text" name="actor" value="someone" id="filter-actor" maxlength="150"' in page
    assert re.search(
        r'<select name="action" id="filter-action" aria-describedby="filter-action-error"'
        r' aria-invalid="true">',
        page,
    )


def test_the_access_check_is_one_statement_and_a_kept_page_reads_nothing_more(brand, make_staff, signed_in):
    """The session with the person, their brands, second factor and audit log lengths (one
    statement, console.sessions); then the page's own read, which a kept page (console.kept)
    does without."""
    client = signed_in(make_staff(brand, "owner"))
    with CaptureQueriesContext(connection) as drawn:
        assert client.get(AUDIT).status_code == 200
    with CaptureQueriesContext(connection) as kept:
        assert client.get(AUDIT).status_code == 200
    signed_in_person = [
        "auth_user",
        "brands_auditlog",
        "brands_brand",
        "brands_membership",
        "console_staffsession",
        "mfa_authenticator",
    ]
    tables = [
        [sorted(set(re.findall(r'(?:FROM|JOIN) "(\w+)"', q["sql"]))) for q in queries.captured_queries]
        for queries in (drawn, kept)
    ]
    assert tables == [
        [signed_in_person, ["brands_auditentry"]],
        [signed_in_person],
    ]


def test_a_change_of_role_or_membership_refuses_at_once(brand, make_staff, signed_in):
    owner = make_staff(brand, "owner")
    client = signed_in(owner)
    assert client.get(AUDIT).status_code == 200
    membership = Membership.objects.get(user=owner, brand=brand)
    membership.role = Membership.Role.EDITOR
    membership.save(update_fields=["role"])
    assert client.get(AUDIT).status_code == 403
    assert client.get("/console/acme/topics/").status_code == 200
    membership.role = Membership.Role.OWNER
    membership.save(update_fields=["role"])
    assert client.get(AUDIT).status_code == 200
    membership.delete()
    assert client.get(AUDIT).status_code == 404
    assert client.get("/console/acme/").status_code == 404


def test_an_owner_whose_second_factor_is_removed_is_sent_to_set_one_up_at_once(brand, make_staff, signed_in):
    owner = make_staff(brand, "owner")
    client = signed_in(owner)
    assert client.get(AUDIT).status_code == 200
    Authenticator.objects.filter(user=owner).delete()
    response = client.get(AUDIT)
    assert response.status_code == 302
    assert response["Location"] == "/console/account/2fa/totp/activate/"


def test_the_audit_table_shows_times_in_utc_and_the_actor_kind_translated(brand, make_staff, signed_in):
    client = signed_in(make_staff(brand, "owner"))
    AuditEntry.objects.create(
        brand=brand,
        at=datetime(2031, 2, 3, 4, 5, 6, 789, tzinfo=UTC),
        actor_kind="api_key",
        actor_ref="cnd_abc",
        actor_name="Shop",
        action="topic.updated",
        target_type="topic",
        target_id="offers",
        before={"name": "Offers"},
        after={"name": "Deals"},
    )
    client.post("/console/language/", {"action": "language", "language": "de", "next": AUDIT})
    page = client.get(AUDIT).content.decode()
    row = re.search(r"<tr>\s*<td>2031-02-03 04:05:06</td>.*?</tr>", page, re.S)
    assert row is not None
    assert '<span class="muted">API-Schlüssel</span>' in row.group(0)
    assert (
        '<span class="visually-hidden">vorher:</span> Offers → '
        '<span class="visually-hidden">nachher:</span> Deals' in row.group(0)
    )
