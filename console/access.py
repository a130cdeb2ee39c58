"""Who may use which console page: one declaration per view, enforced here and nowhere else.

Every view in the console's URL namespace carries an `Access` (set by `brand_page` or
`account_page`); tests/console/test_role_matrix.py walks the resolver and fails on a view
without one. For a brand's page (`/console/<brand_slug>/…`) the checks run in this order:

1. not signed in: 302 to the sign-in page, back here afterwards;
2. an owner (of any brand) without a second factor: 302 to set one up, before anything else;
3. not a member of the brand: 404, exactly as for a brand that does not exist;
4. a GET by a role not in `read`, or a POST whose `action` the role may not take: 403, a page
   that says so. A POST names its action in the form field `action`; an action the view does
   not declare is 400. Other methods are 405.

The view then runs with `request.console` (the brand, the membership, every brand the person
belongs to). htmx fragments are the same URLs (django-htmx's `request.htmx` picks the partial
template), so they pass the same checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from brands.models import AuditLog, Brand, Membership
from config.db import select_many, shape

Role = Membership.Role
OWNER = frozenset({Role.OWNER.value})
EDITORS = frozenset({Role.OWNER.value, Role.EDITOR.value})
SUPPORT = frozenset({Role.OWNER.value, Role.SUPPORT.value})
EVERY_ROLE = frozenset(Role.values)

ACTION_FIELD = "action"


@dataclass(frozen=True)
class Access:
    """The declaration: which roles may read the page (GET), and per POST action which roles
    may take it. `brand=False` marks a page outside any brand (the picker, an invitation),
    `signed_in=False` one that a visitor who is not signed in may open."""

    read: frozenset[str] = EVERY_ROLE
    actions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    brand: bool = True
    signed_in: bool = True

    def may_read(self, role: str) -> bool:
        return role in self.read

    def may_act(self, role: str, action: str) -> bool:
        return role in self.actions.get(action, frozenset())


@dataclass(frozen=True)
class Console:
    """What a brand page knows about the person using it."""

    brand: Brand
    membership: Membership
    memberships: list[Membership]  # every brand they belong to, for the switcher

    @property
    def role(self) -> str:
        return self.membership.role


View = Callable[..., HttpResponse]


def access_of(view: Any) -> Access | None:
    return getattr(view, "console_access", None)


def staff(request: HttpRequest) -> Any:
    """The signed-in person (the checks below have made sure there is one)."""
    return request.user


def _sign_in(request: HttpRequest) -> HttpResponse:
    return HttpResponseRedirect(f"{settings.LOGIN_URL}?{urlencode({'next': request.get_full_path()})}")


@cache
def _person_columns_and_joins() -> tuple[str, str]:
    """What the person's statements select and join, from the person `u` on: their columns,
    each brand they belong to (the membership `m`, the brand `b`), whether they have a second
    factor, and each brand's audit log length."""
    from allauth.mfa.models import Authenticator

    person, membership, brand = shape(get_user_model()), shape(Membership), shape(Brand)
    quote = connection.ops.quote_name
    log_entries = quote(AuditLog._meta.get_field("entries").column)
    columns = (
        f"{person.columns('u')}, {membership.columns('m')}, {brand.columns('b')}, "  # noqa: S608
        f"EXISTS (SELECT 1 FROM {quote(Authenticator._meta.db_table)} a WHERE a.user_id = u.id), "
        f"COALESCE((SELECT l.{log_entries} FROM {quote(AuditLog._meta.db_table)} l "
        "WHERE l.brand_id = b.id), 0)"
    )
    joins = (
        f"LEFT JOIN {quote(Membership._meta.db_table)} m ON m.user_id = u.id "
        f"LEFT JOIN {quote(Brand._meta.db_table)} b ON b.id = m.brand_id"
    )
    return columns, joins


@cache
def _person_sql() -> str:
    columns, joins = _person_columns_and_joins()
    person_table = connection.ops.quote_name(get_user_model()._meta.db_table)
    return f"SELECT {columns} FROM {person_table} u {joins} WHERE u.id = %s ORDER BY b.name, b.slug"  # noqa: S608


def person_with_sql(*, table: str, columns: str, person_column: str, where: str) -> str:
    """A statement reading `columns` of a row of `table` (alias `t`, its columns quoted by the
    caller) and then the person its `person_column` names, with their brands as person_read
    reads them (person_from_rows, from where `columns` end). The session's read uses it
    (console.sessions): one round trip for the session and the person."""
    person_columns, joins = _person_columns_and_joins()
    person_table = connection.ops.quote_name(get_user_model()._meta.db_table)
    return (
        f"SELECT {columns}, {person_columns} FROM {table} t "  # noqa: S608 - names from the models
        f"LEFT JOIN {person_table} u ON u.id = t.{person_column} {joins} "
        f"WHERE {where} ORDER BY b.name, b.slug"
    )


def person_read(user_id: Any) -> Any | None:
    """The person (None if there is no such user) with every brand they belong to
    (`console_memberships`, by the brand's name), in one prepared statement whose columns come
    from the models (config.db). Each membership is marked with whether the person has a second
    factor (`second_factor`: any authenticator of theirs, what allauth's is_mfa_enabled asks),
    and its brand with its audit log's length (`audit_log_entries`: brands.models.AuditLog,
    which the audit page keys its kept pages by). The staff's authentication backend reads the
    person this way on every request (console.backends) unless the session's read brought them
    (console.sessions), so a removed membership, a changed role or a removed second factor
    refuses at once."""
    return person_from_rows(select_many([(_person_sql(), [user_id])])[0])


def person_from_rows(rows: list[tuple[Any, ...]], start: int = 0) -> Any | None:
    """The person from the rows of a person statement (each row's columns from `start` on),
    None when there are none or the person is missing (a LEFT JOIN's empty side)."""
    person, membership, brand = shape(get_user_model()), shape(Membership), shape(Brand)
    if not rows:
        return None
    user = person.build(rows[0], start)
    if user is None:
        return None
    found = []
    for row in rows:
        member = membership.build(row, start + person.width)
        if member is None:  # no brand at all: the one row the LEFT JOIN keeps
            continue
        member_brand = brand.build(row, start + person.width + membership.width)
        member_brand.audit_log_entries = row[-1]
        Membership.brand.field.set_cached_value(member, member_brand)
        member.second_factor = row[-2]
        found.append(member)
    user.console_memberships = found
    return user


def _memberships(request: HttpRequest) -> list[Membership]:
    """Every brand the person belongs to, as person_read found them with the person; read now
    for a person signed in by another backend (an operator through Django's admin)."""
    user = staff(request)
    found = getattr(user, "console_memberships", None)
    if found is None:
        found = user.console_memberships = person_read(user.pk).console_memberships  # type: ignore[union-attr]
    return found


def owner_needs_second_factor(memberships: Iterable[Membership]) -> bool:
    """An owner must sign in with a second factor: until they have one, the console sends them
    to set it up. `memberships` come from `_memberships`, which asked whether they have one."""
    return any(m.role == Role.OWNER and not m.second_factor for m in memberships)  # type: ignore[attr-defined]


def second_factor_setup() -> HttpResponse:
    return HttpResponseRedirect(reverse("mfa_activate_totp"))


def _refused(request: HttpRequest, status: int, console: Console | None = None) -> HttpResponse:
    from console.pages import refusal  # the page renders with the console's layout

    return refusal(request, status, console)


def _method_checked(request: HttpRequest, access: Access, role: str | None) -> HttpResponse | None:
    """None when the request may go on; otherwise the answer (403, 400 or 405)."""
    if request.method in ("GET", "HEAD"):
        if not access.read:  # a page that only takes POSTs
            return _refused(request, 405, getattr(request, "console", None))
        if role is not None and not access.may_read(role):
            return _refused(request, 403, getattr(request, "console", None))
        return None
    if request.method == "POST":
        action = request.POST.get(ACTION_FIELD, "")
        if action not in access.actions:
            return _refused(request, 400, getattr(request, "console", None))
        if role is not None and not access.may_act(role, action):
            return _refused(request, 403, getattr(request, "console", None))
        return None
    return _refused(request, 405, getattr(request, "console", None))


def brand_page(
    *, read: Iterable[str] = EVERY_ROLE, actions: Mapping[str, Iterable[str]] | None = None
) -> Callable[[View], View]:
    """Declare a brand page: the roles that may read it, and the roles that may take each POST
    action. The view is called as `view(request, brand_slug=…, **kwargs)` with
    `request.console` set."""
    access = Access(
        read=frozenset(read), actions={name: frozenset(roles) for name, roles in (actions or {}).items()}
    )

    def decorate(view: View) -> View:
        @wraps(view)
        def checked(request: HttpRequest, brand_slug: str, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return _sign_in(request)
            memberships = _memberships(request)
            if owner_needs_second_factor(memberships):
                return second_factor_setup()
            membership = next((m for m in memberships if m.brand.slug == brand_slug), None)
            if membership is None:
                return _refused(request, 404)  # never tells whether the brand exists
            request.console = Console(  # type: ignore[attr-defined]
                brand=membership.brand, membership=membership, memberships=memberships
            )
            refusal = _method_checked(request, access, membership.role)
            if refusal is not None:
                return refusal
            return view(request, brand_slug=brand_slug, **kwargs)

        checked.console_access = access  # type: ignore[attr-defined]
        return checked

    return decorate


def account_page(
    *, signed_in: bool = True, read: bool = True, actions: Iterable[str] = ()
) -> Callable[[View], View]:
    """Declare a console page outside any brand (the brand picker, an invitation, the language
    choice): open to anyone signed in, or to anyone at all with `signed_in=False`; `read=False`
    for one that only takes POSTs."""
    access = Access(
        read=EVERY_ROLE if read else frozenset(),
        actions={name: EVERY_ROLE for name in actions},
        brand=False,
        signed_in=signed_in,
    )

    def decorate(view: View) -> View:
        @wraps(view)
        def checked(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            if signed_in and not request.user.is_authenticated:
                return _sign_in(request)
            if request.user.is_authenticated and owner_needs_second_factor(_memberships(request)):
                return second_factor_setup()
            refusal = _method_checked(request, access, None)
            if refusal is not None:
                return refusal
            return view(request, **kwargs)

        checked.console_access = access  # type: ignore[attr-defined]
        return checked

    return decorate
