"""Every URL of the console by every role by an outsider (the owner of another brand): the exact
status the view's declaration (console.access) promises, for GET and for each POST action, and
nothing written on a refused POST. The URLs come from the resolver, so a page added later is
walked too, and one without a declared access fails here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from brands.models import ApiKey, Invitation, Membership
from brands.services import invitation_create
from consent.models import ConsentEvent
from consent.services import contact_upsert
from console.access import Access, access_of
from preferences.topics import topic_create
from quizzes.services import quiz_create, quiz_publish
from sync.delivery.connectors.services import connector_create
from sync.delivery.endpoints import endpoint_create
from sync.models import Connector, Delivery, Endpoint
from tests.actors import TEST_ACTOR
from tests.console.conftest import decide
from tests.fakes.klaviyo import FakeKlaviyo

ROLES = [role.value for role in Membership.Role]


# The URL arguments of each console view, its include's (a brand's slug) first.
ARGUMENTS: dict[str, list[str]] = {}


def console_patterns() -> list[tuple[str, URLPattern]]:
    """(name, pattern) of every view in the `console` namespace, a brand's pages included."""
    [resolver] = [
        entry
        for entry in get_resolver().url_patterns
        if isinstance(entry, URLResolver) and entry.namespace == "console"
    ]
    found = []

    def walk(entries: list[Any], arguments: list[str]) -> None:
        for entry in entries:
            if isinstance(entry, URLResolver):
                assert entry.namespace is None, f"another namespace inside the console: {entry}"
                walk(entry.url_patterns, [*arguments, *entry.pattern.converters])
            else:
                name = f"console:{entry.name}"
                ARGUMENTS[name] = [*arguments, *entry.pattern.converters]
                found.append((name, entry))

    walk(resolver.url_patterns, [])
    return found


PATTERNS = console_patterns()


def test_every_console_view_declares_its_access():
    undeclared = [name for name, pattern in PATTERNS if not isinstance(access_of(pattern.callback), Access)]
    assert undeclared == []
    assert {name for name, _ in PATTERNS} >= {
        "console:index",
        "console:overview",
        "console:members",
        "console:api_keys",
        "console:endpoints",
        "console:endpoint",
        "console:connectors",
        "console:connector",
    }


def snapshot() -> dict[str, Any]:
    """Every row of every table the console's actions could touch, and the counts of the rest."""
    state: dict[str, Any] = {
        "memberships": sorted(Membership.objects.values_list("pk", "user_id", "brand_id", "role")),
        "invitations": sorted(
            Invitation.objects.values_list("pk", "email", "role", "accepted_at", "revoked_at")
        ),
        "api_keys": sorted(ApiKey.objects.values_list("pk", "name", "scopes", "revoked_at")),
        # A rotation changes no count: the secrets themselves are compared.
        "endpoints": sorted(
            Endpoint.objects.values_list("pk", "url", "description", "status", "secret", "previous_secret")
        ),
        "deliveries": sorted(Delivery.objects.values_list("pk", "status", "next_attempt_at")),
        "connectors": sorted(Connector.objects.values_list("pk", "name", "credentials", "updated_at")),
    }
    for model in apps.get_models():
        state[model._meta.label] = model._default_manager.count()
    return state


@pytest.fixture
def klaviyo(settings) -> Iterator[str]:
    """A Klaviyo fake to connect the brand's connector to; its base URL."""
    settings.WEBHOOK_ALLOW_PRIVATE = True
    fake = FakeKlaviyo()
    yield fake.start()
    fake.stop()


@pytest.fixture
def cast(brand, other_brand, make_staff, signed_in, settings, purpose, klaviyo) -> dict[str, Any]:
    settings.PUBLIC_BASE_URL = "http://testserver"
    people = {role: make_staff(brand, role) for role in ROLES}
    people["outsider"] = make_staff(other_brand, Membership.Role.OWNER, "owner@outsider.test")
    issued = invitation_create(
        brand=brand,
        email="new@acme.test",
        role="viewer",
        invited_by=people["owner"],
        url_builder=lambda token: f"http://testserver/console/invitations/{token}/",
        actor=TEST_ACTOR,
    )
    # The catalogue's pages name a topic, a purpose and a notice's language of the brand.
    catalogued = purpose
    topic_create(actor=TEST_ACTOR, brand=brand, slug="news", name="News", purpose=catalogued)
    hook = endpoint_create(brand=brand, actor=TEST_ACTOR, url="https://hooks.acme.example/in")
    connector = connector_create(
        brand=brand,
        actor=TEST_ACTOR,
        vendor="klaviyo",
        name="Main account",
        credentials={"api_key": "pk_test_0123456789abcdef"},
        mapping={"lists": [{"list": "LstNews", "purpose": catalogued.slug}]},
        api_base_url=klaviyo,
    )
    # The support desk's contact, with one ledger event (its receipt).
    contact = contact_upsert(brand=brand, external_id="cust-1", email="ada@example.com")[0]
    decide(brand, "cust-1", purpose, "granted")
    # A published quiz: its funnel page, and the quiz builder's pages.
    quiz = quiz_create(
        brand=brand,
        actor=TEST_ACTOR,
        document={
            "format": 1,
            "language": "en",
            "title": {"en": "Matrix quiz"},
            "questions": [
                {
                    "id": "q",
                    "type": "single",
                    "purpose": catalogued.slug,
                    "text": {"en": "Which?"},
                    "options": [{"id": "a", "label": {"en": "A"}}, {"id": "b", "label": {"en": "B"}}],
                }
            ],
        },
    )
    quiz_publish(quiz=quiz, actor=TEST_ACTOR)
    samples = {
        "brand_slug": brand.slug,
        "quiz_id": quiz.public_id,
        "token": issued.token,
        "topic_slug": "news",
        "purpose_slug": catalogued.slug,
        "language": "en",
        "endpoint_id": hook.public_id,
        "connector_id": connector.public_id,
        "contact_id": contact.pk,
        "event_id": ConsentEvent.objects.get(contact=contact).pk,
    }
    return {"people": people, "samples": samples, "brand": brand}


def url_of(name: str, pattern: URLPattern, samples: dict[str, Any]) -> str:
    names = ARGUMENTS[name]
    missing = [n for n in names if n not in samples]
    assert not missing, f"{name}: add a sample value for {missing} to the matrix"
    return reverse(name, kwargs={n: samples[n] for n in names})


def expected(access: Access, who: str, *, action: str | None) -> int:
    """The status the declaration promises `who` (a role, or "outsider")."""
    if access.brand and who == "outsider":
        return 404
    if action is None:
        if not access.read:
            return 405
        if not access.brand:
            return 200 if who != "owner-with-one-brand" else 302
        return 200 if access.may_read(who) else 403
    if access.brand and not access.may_act(who, action):
        return 403
    return 400  # allowed, but an empty form is refused as such


CASES = [
    (name, pattern, who, action)
    for name, pattern in PATTERNS
    for who in [*ROLES, "outsider"]
    for action in [None, *sorted(access_of(pattern.callback).actions)]
]


@pytest.mark.parametrize(
    ("name", "pattern", "who", "action"),
    CASES,
    ids=[f"{name}-{who}-{action or 'GET'}" for name, _, who, action in CASES],
)
def test_the_role_matrix(cast, signed_in, name, pattern, who, action):
    access = access_of(pattern.callback)
    url = url_of(name, pattern, cast["samples"])
    client = signed_in(cast["people"][who])
    before = snapshot()
    if action is None:
        response = client.get(url)
        if name == "console:index":
            # One brand: straight to it. (test_a_person_in_two_brands_chooses covers the picker.)
            assert response.status_code == 302
            return
        if name == "console:invitation" and who != "outsider":
            # A member may open a link meant for someone else; only accepting is refused.
            assert response.status_code == 200
            return
        assert response.status_code == expected(access, who, action=None)
    else:
        response = client.post(url, {"action": action})
        status = expected(access, who, action=action)
        if name == "console:invitation":
            status = 403  # the invitation was sent to another address than theirs
        if name == "console:language":
            status = 302  # the language choice needs nothing more than its action
        assert response.status_code == status
        if status in (403, 404):
            assert snapshot() == before


def test_signed_out_people_are_sent_to_sign_in(cast, client):
    for name, pattern in PATTERNS:
        access = access_of(pattern.callback)
        if not access.signed_in or not access.read:
            continue
        url = url_of(name, pattern, cast["samples"])
        response = client.get(url)
        assert response.status_code == 302, name
        assert response["Location"] == f"/console/account/login/?next={url.replace('/', '%2F')}", name


def test_an_unknown_action_is_400_and_another_method_405(cast, signed_in):
    owner = signed_in(cast["people"]["owner"])
    before = snapshot()
    assert owner.post("/console/acme/members/", {"action": "explode"}).status_code == 400
    assert owner.put("/console/acme/members/").status_code == 405
    assert snapshot() == before


def test_a_brand_that_does_not_exist_answers_as_one_that_is_not_yours(cast, signed_in):
    outsider = signed_in(cast["people"]["outsider"])
    missing = outsider.get("/console/no-such-brand/")
    theirs = outsider.get("/console/acme/")
    assert missing.status_code == theirs.status_code == 404

    # The same page, but for the path each names (the language form returns to it).
    def page(response):  # without the form tokens, which differ on every page
        return re.sub(r'name="csrfmiddlewaretoken" value="\w+"', "", response.content.decode())

    assert page(missing).replace("no-such-brand", "acme") == page(theirs)
    assert "Acme" not in theirs.content.decode()


def test_a_person_in_two_brands_chooses_switches_and_sees_only_the_current_brand(
    brand, other_brand, make_staff, signed_in
):
    person = make_staff(brand, "owner", "both@example.test")
    Membership.objects.create(user=person, brand=other_brand, role="viewer")
    make_staff(brand, "editor", "acme-only@acme.test")
    make_staff(other_brand, "owner", "outsider-only@outsider.test")
    client = signed_in(person)

    picker = client.get("/console/").content.decode()
    assert 'href="/console/acme/"' in picker
    assert 'href="/console/outsider/"' in picker

    ours = client.get("/console/acme/members/").content.decode()
    assert "acme-only@acme.test" in ours
    assert "outsider-only@outsider.test" not in ours
    overview = client.get("/console/outsider/").content.decode()
    assert 'aria-label="Brands"' in overview  # the switcher
    assert 'href="/console/acme/"' in overview
    # A viewer in the other brand: its members page is refused, and its navigation has no link.
    assert 'href="/console/outsider/members/"' not in overview
    assert client.get("/console/outsider/members/").status_code == 403
