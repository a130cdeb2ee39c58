"""`make fakes`: a local fake of each vendor, and the demo brand connected to them.

Run beside `make run` (in a second terminal). It starts the vendor fakes the tests use
(tests/fakes/), each on its own port, connects the demo brand to each of them (replacing the
demo's earlier fake connectors), and serves a small control page:

    GET  http://127.0.0.1:8100/                     what each fake holds for the demo brand's people
    POST http://127.0.0.1:8100/unsubscribe?vendor=klaviyo&email=…
                                                    that person unsubscribes inside the vendor: the
                                                    fake changes its own state and calls Candor back
                                                    (its signed webhook; Salesforce is polled)

Ctrl-C stops the fakes; the connectors stay (their vendor calls then fail and are retried, as
with any vendor that is down) until the next `make fakes` replaces them or you delete them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

CONTROL_PORT = int(os.environ.get("FAKES_PORT", "8100"))
DEMO_NAME = "Demo ({vendor} fake)"
WEBHOOK_SECRET = "demo-webhook-secret-0123456789"


@dataclass
class Vendor:
    """How the demo starts, connects to and drives one vendor's fake."""

    name: str
    port: int
    start: Callable[[int], Any]  # the fake, started on the port
    connector: Callable[[Any], dict[str, Any]]  # {"credentials", "mapping"} for the demo brand
    state: Callable[[Any, list[str]], dict[str, Any]]  # what the fake holds for these addresses
    unsubscribe: Callable[[Any, str, str, str], int]  # (fake, email, hook url, event id) -> status


def _serve(fake: Any, port: int) -> Any:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", port, fake.wsgi, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fake._server = server
    return fake


# --- Klaviyo --------------------------------------------------------------------------------


def _klaviyo_start(port: int) -> Any:
    from tests.fakes.klaviyo import FakeKlaviyo

    return _serve(FakeKlaviyo(lists={"LstNews": "Newsletter", "LstOffers": "Offers"}), port)


def _klaviyo_connector(fake: Any) -> dict[str, Any]:
    return {
        "credentials": {"api_key": "pk_test_0123456789abcdef", "webhook_secret": WEBHOOK_SECRET},
        "mapping": {
            "lists": [
                {"list": "LstNews", "topic": "newsletter", "channels": ["email"]},
                {"list": "LstOffers", "topic": "offers", "channels": ["email", "sms"]},
            ]
        },
    }


def _klaviyo_state(fake: Any, emails: list[str]) -> dict[str, Any]:
    with fake._lock:
        return {
            email: {
                "consent": fake.consent.get((email, "email")),
                "lists": sorted(
                    list_id
                    for (list_id, channel), members in fake.members.items()
                    if channel == "email" and email in members
                ),
            }
            for email in emails
        }


def _klaviyo_unsubscribe(fake: Any, email: str, hook_url: str, event_id: str) -> int:
    from tests.fakes.klaviyo_webhooks import klaviyo_unsubscribe

    return klaviyo_unsubscribe(fake, email=email, hook_url=hook_url, secret=WEBHOOK_SECRET, event_id=event_id)


# --- Mailchimp ------------------------------------------------------------------------------

MAILCHIMP_LIST = "a1b2c3d4e5"


def _mailchimp_start(port: int) -> Any:
    from tests.fakes.mailchimp import FakeMailchimp

    fake = FakeMailchimp()
    fake.base_url = f"http://127.0.0.1:{port}"
    return _serve(fake, port)


def _mailchimp_connector(fake: Any) -> dict[str, Any]:
    from tests.fakes.mailchimp import KEY

    return {
        "credentials": {"api_key": KEY, "webhook_secret": WEBHOOK_SECRET},
        "mapping": {
            "lists": [
                {"list": MAILCHIMP_LIST, "topic": "newsletter", "interest": "int111"},
                {"list": MAILCHIMP_LIST, "topic": "offers", "interest": "int222"},
            ]
        },
    }


def _mailchimp_state(fake: Any, emails: list[str]) -> dict[str, Any]:
    state = {}
    for email in emails:
        member = fake.member(MAILCHIMP_LIST, email)
        state[email] = (
            {"status": member.status, "interests": dict(sorted(member.interests.items()))} if member else None
        )
    return state


def _mailchimp_unsubscribe(fake: Any, email: str, hook_url: str, event_id: str) -> int:
    # Mailchimp sends no event id (the adapter derives one) and no signature: the secret is in the URL.
    from tests.fakes.mailchimp import webhook_post

    form = fake.person_unsubscribes(MAILCHIMP_LIST, email)
    return webhook_post(f"{hook_url}?secret={WEBHOOK_SECRET}", form).status_code


# --- Salesforce -----------------------------------------------------------------------------


def _salesforce_start(port: int) -> Any:
    """An org holding a Contact for each of the demo brand's people (Candor never creates them),
    matched by a Candor_Id__c External ID field, and two data use purposes."""
    from consent.models import Contact
    from tests.fakes.salesforce import FakeSalesforce

    fake = FakeSalesforce()
    fake.base_url = f"http://127.0.0.1:{port}"
    fake.add_custom_field("Contact", "Candor_Id__c")
    fake.purposes = {  # type: ignore[attr-defined]
        "email-marketing": fake.insert("DataUsePurpose", Name="Email marketing"),
        "sms-marketing": fake.insert("DataUsePurpose", Name="SMS marketing"),
    }
    people = Contact.objects.filter(brand__slug="demo", erased_at__isnull=True).order_by("pk")
    for person in people:
        fake.insert(
            "Contact",
            LastName="Demo",
            Candor_Id__c=person.external_id,
            Email=person.email,
            Phone=person.phone,
        )
    return _serve(fake, port)


def _salesforce_connector(fake: Any) -> dict[str, Any]:
    return {
        "credentials": {"client_id": "3MVG9.candor.client", "client_secret": "s3cret-client-secret"},
        "mapping": {
            "object": "Contact",
            "match_field": "Candor_Id__c",
            "purposes": [
                {"purpose": "email-marketing", "data_use_purpose": fake.purposes["email-marketing"]},
                {
                    "purpose": "sms-marketing",
                    "data_use_purpose": fake.purposes["sms-marketing"],
                    "channels": ["sms"],
                },
            ],
            "flags": {"HasOptedOutOfEmail": "email"},
        },
    }


def _salesforce_state(fake: Any, emails: list[str]) -> dict[str, Any]:
    names = {dup: name for name, dup in fake.purposes.items()}
    state: dict[str, Any] = {}
    for email in emails:
        for contact in fake.find("Contact", Email=email):
            consents = (
                fake.find("ContactPointTypeConsent", PartyId=contact["IndividualId"])
                if contact["IndividualId"]
                else []
            )
            state[email] = {
                "HasOptedOutOfEmail": contact["HasOptedOutOfEmail"],
                "consents": {
                    f"{names.get(c['DataUsePurposeId'], c['DataUsePurposeId'])} {c['ContactPointType']}": c[
                        "PrivacyConsentStatus"
                    ]
                    for c in consents
                },
            }
    return state


def _salesforce_unsubscribe(fake: Any, email: str, hook_url: str, event_id: str) -> int:
    """Tick "Email Opt Out" on the person's Contact in the org; Salesforce is polled (beat, every
    CONNECTORS_POLL_SECONDS), and the demo polls at once so the change shows now."""
    from sync.delivery.connectors.polling import connector_poll
    from sync.models import Connector

    connector = Connector.objects.select_related("endpoint", "brand").get(
        public_id=hook_url.rsplit("/", 1)[-1]
    )
    if not connector.poll_watermark:
        connector_poll(connector=connector)  # a first poll only sets where to read from
        connector.refresh_from_db()
    contacts = fake.find("Contact", Email=email)
    for contact in contacts:
        fake.edit("Contact", contact["Id"], HasOptedOutOfEmail=True)
    outcomes = connector_poll(connector=connector)
    return 200 if contacts and outcomes is not None else 404


# --- HubSpot --------------------------------------------------------------------------------


def _hubspot_start(port: int) -> Any:
    from tests.fakes.hubspot import FakeHubSpot

    fake = FakeHubSpot(definitions={"101": ("Newsletter", True), "102": ("Offers", True)})
    fake.base_url = f"http://127.0.0.1:{port}"
    return _serve(fake, port)


def _hubspot_connector(fake: Any) -> dict[str, Any]:
    from tests.fakes.hubspot import CLIENT_SECRET, TOKEN

    return {
        "credentials": {"access_token": TOKEN, "client_secret": CLIENT_SECRET},
        "mapping": {
            "subscriptions": [
                {"subscription_id": "101", "topic": "newsletter"},
                {"subscription_id": "102", "topic": "offers"},
            ]
        },
    }


def _hubspot_state(fake: Any, emails: list[str]) -> dict[str, Any]:
    return {
        email: {
            "contact_id": fake.contacts.get(email.lower()),
            "unsubscribed_from_all": email.lower() in fake.unsubscribed_all,
            "statuses": {sid: fake.status(email, sid) for sid in sorted(fake.definitions)},
        }
        for email in emails
    }


def _hubspot_unsubscribe(fake: Any, email: str, hook_url: str, event_id: str) -> int:
    # HubSpot's event ids are numbers; the demo's own counter keeps them unique in this run.
    return fake.unsubscribe_all(
        email, url=hook_url, event_id=int(event_id.rsplit("-", 1)[-1]) + os.getpid() * 1000
    )


VENDORS = [
    Vendor("klaviyo", 8101, _klaviyo_start, _klaviyo_connector, _klaviyo_state, _klaviyo_unsubscribe),
    Vendor(
        "mailchimp", 8102, _mailchimp_start, _mailchimp_connector, _mailchimp_state, _mailchimp_unsubscribe
    ),
    Vendor("hubspot", 8104, _hubspot_start, _hubspot_connector, _hubspot_state, _hubspot_unsubscribe),
    Vendor(
        "salesforce",
        8103,
        _salesforce_start,
        _salesforce_connector,
        _salesforce_state,
        _salesforce_unsubscribe,
    ),
]


# --- Connecting the demo brand ---------------------------------------------------------------


def connect_demo(vendor: Vendor, fake: Any) -> Any:
    """The demo brand's connector to this fake, made afresh (an earlier demo one is deleted)."""
    from brands.audit import Actor
    from brands.models import Brand
    from sync.delivery.connectors.services import connector_create, connector_delete
    from sync.models import Connector

    brand = Brand.objects.get(slug="demo")
    actor = Actor.system("make fakes")
    name = DEMO_NAME.format(vendor=vendor.name)
    for old in Connector.objects.filter(brand=brand, vendor=vendor.name, name=name):
        connector_delete(connector=old, actor=actor)
    config = vendor.connector(fake)
    return connector_create(
        brand=brand,
        actor=actor,
        vendor=vendor.name,
        name=name,
        credentials=config["credentials"],
        mapping=config["mapping"],
        api_base_url=f"http://127.0.0.1:{vendor.port}",
    )


def _demo_emails() -> list[str]:
    from consent.models import Contact

    rows = Contact.objects.filter(brand__slug="demo", email__isnull=False, erased_at__isnull=True)
    return sorted(rows.values_list("email", flat=True))


def control(running: dict[str, tuple[Vendor, Any, Any]], base_url: str) -> Callable[..., Any]:
    from werkzeug import Request, Response

    counter = iter(range(1, 10**9))

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.method == "GET" and request.path == "/":
            emails = _demo_emails()
            body = {name: vendor.state(fake, emails) for name, (vendor, fake, _c) in running.items()}
            response = Response(json.dumps(body, indent=2) + "\n", content_type="application/json")
        elif request.method == "POST" and request.path == "/unsubscribe":
            query = parse_qs(urlsplit(request.url).query)
            name, email = query.get("vendor", [""])[0], query.get("email", [""])[0]
            if name not in running or not email:
                response = Response(f"Say ?vendor=({'|'.join(running)})&email=…\n", status=400)
            else:
                vendor, fake, connector = running[name]
                hook = f"{base_url}/hooks/{name}/{connector.public_id}"
                status = vendor.unsubscribe(fake, email, hook, f"demo-{os.getpid()}-{next(counter)}")
                response = Response(f"{name}: unsubscribed {email}; Candor answered {status}\n")
        else:
            response = Response("GET / or POST /unsubscribe?vendor=…&email=…\n", status=404)
        return response(environ, start_response)

    return app


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("WEBHOOK_ALLOW_PRIVATE", "true")
    from config.embedded_postgres import database_url_for_checkout

    with database_url_for_checkout():
        import django

        django.setup()
        import logging

        from django.conf import settings
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        running: dict[str, tuple[Vendor, Any, Any]] = {}
        for vendor in VENDORS:
            fake = vendor.start(vendor.port)
            connector = connect_demo(vendor, fake)
            running[vendor.name] = (vendor, fake, connector)
            print(
                f"{vendor.name:<11} fake on http://127.0.0.1:{vendor.port}, connector {connector.public_id}"
            )
        base_url = settings.PUBLIC_BASE_URL
        server = make_server("127.0.0.1", CONTROL_PORT, control(running, base_url), threaded=True)
        print(
            f"\nCandor at {base_url}. Change the demo customer's preferences (the link `make run` printed),"
            f"\nthen see each vendor's copy:   curl http://127.0.0.1:{CONTROL_PORT}/"
            "\nUnsubscribe someone inside a vendor and watch Candor's ledger take it in:"
            f"\n  curl -X POST 'http://127.0.0.1:{CONTROL_PORT}/unsubscribe?vendor=klaviyo&email=ada@example.com'"
            "\nCtrl-C stops the fakes.",
            flush=True,
        )
        signal.signal(signal.SIGTERM, _interrupt)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
