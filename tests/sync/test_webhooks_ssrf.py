"""The SSRF guard: URLs checked at creation, addresses checked at every connect, and the
connection made to the address that was checked."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from django.test import override_settings
from django.utils import timezone

from brands.models import Scope
from config.errors import Unprocessable
from sync import tasks
from sync.delivery import sending
from sync.delivery.ssrf import address_refusal, url_normalise, url_validate
from sync.models import Attempt, Delivery, Endpoint
from tests.sync.webhook_support import deliveries, fanout, make_endpoint, send, write_event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("published")]


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.1.1", "a private address"),
        ("100.64.0.1", "a private address"),  # CGNAT
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("169.254.10.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("224.0.0.1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),  # noqa: S104 - the address under test
        ("240.0.0.1", "a private address"),  # reserved (is_private on current Pythons)
        ("fc00::1", "a private address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("93.184.215.14", None),
        ("2606:4700::1111", None),
    ],
)
def test_which_addresses_are_refused(address, reason):
    assert address_refusal(ipaddress.ip_address(address), allow_private=False) == reason


def test_the_setting_allows_private_addresses_but_never_metadata():
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), allow_private=True) is None
    assert address_refusal(ipaddress.ip_address("10.0.0.1"), allow_private=True) is None
    assert address_refusal(ipaddress.ip_address("169.254.169.254"), allow_private=True) is not None
    assert address_refusal(ipaddress.ip_address("fd00:ec2::254"), allow_private=True) is not None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://hooks.example.com/candor", None),
        ("https://hooks.example.com:8443/x?y=1", None),
        ("http://hooks.example.com/candor", "Use https://."),
        ("ftp://hooks.example.com/", "Use an absolute https:// URL."),
        ("hooks.example.com/candor", "Use an absolute https:// URL."),
        (
            "https://user:pw@hooks.example.com/",
            "Leave credentials out of the URL; verify the signature instead.",
        ),
        ("https://hooks.example.com/#frag", "Leave out the #fragment."),
        ("https://127.0.0.1/hook", "Webhooks cannot be sent to a loopback address."),
        ("https://[::1]/hook", "Webhooks cannot be sent to a loopback address."),
        ("https://localhost/hook", "Webhooks cannot be sent to a loopback address."),
        ("https://10.0.0.8/hook", "Webhooks cannot be sent to a private address."),
        ("https://169.254.169.254/latest", "Webhooks cannot be sent to a cloud metadata address."),
        ("https://hooks.example.com/" + "a" * 2000, "Use at most 2000 characters."),
        ("https://hooks.example.com:99999/", "Use a port from 1 to 65535, not 99999."),
    ],
)
def test_url_validation(url, problem):
    problems = url_validate(url, allow_private=False)
    assert problems == ([problem] if problem else [])


@override_settings(WEBHOOK_ALLOW_PRIVATE=False)
def test_creating_an_endpoint_on_a_private_address_is_refused(brand):
    with pytest.raises(Unprocessable) as caught:
        make_endpoint(brand, "http://127.0.0.1:9/hook")
    assert set(caught.value.errors["url"]) == {
        "Use https://.",
        "Webhooks cannot be sent to a loopback address.",
    }


def test_a_receiver_that_resolves_to_loopback_is_refused_at_send_time(brand, receiver, settings):
    port = receiver.server.port
    endpoint = make_endpoint(brand, f"https://receiver.test:{port}/hook")  # allowed at creation
    settings.WEBHOOK_ALLOW_PRIVATE = False
    write_event(brand, 1, 1)
    fanout(endpoint)
    [delivery] = deliveries(endpoint)

    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        return real("127.0.0.1" if host == "receiver.test" else host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", resolve)
        attempt = send(delivery)

    assert attempt.outcome == "refused"
    assert attempt.error == "The receiver's host resolves to a loopback address."
    assert receiver.received == []  # no connection was made


def test_http_is_refused_at_send_time_without_the_setting(brand, receiver, settings):
    endpoint = make_endpoint(brand, receiver.url())
    settings.WEBHOOK_ALLOW_PRIVATE = False
    write_event(brand, 1, 1)
    fanout(endpoint)

    attempt = send(deliveries(endpoint)[0])

    assert (attempt.outcome, attempt.error) == ("refused", "Only https:// receivers are allowed.")
    assert receiver.received == []


def test_metadata_is_refused_even_with_the_setting(brand):
    endpoint = make_endpoint(brand, "http://example.test/hook")
    write_event(brand, 1, 1)
    fanout(endpoint)
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        return real("169.254.169.254" if host == "example.test" else host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", resolve)
        attempt = send(deliveries(endpoint)[0])

    assert attempt.outcome == "refused"
    assert "metadata" in attempt.error


def test_the_connection_goes_to_the_checked_address_with_the_host_name_kept(brand, receiver):
    """Resolved once, by the guard: the client never resolves the name again (no rebinding)."""
    port = receiver.server.port
    endpoint = make_endpoint(brand, f"http://receiver.test:{port}/hook")
    receiver.secrets.append(endpoint.secret)
    write_event(brand, 1, 1)
    fanout(endpoint)
    real = socket.getaddrinfo
    asked = []

    def resolve(host, *args, **kwargs):
        asked.append(host)
        return real("127.0.0.1" if host == "receiver.test" else host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", resolve)
        attempt = send(deliveries(endpoint)[0])

    assert attempt.outcome == "succeeded"
    assert asked.count("receiver.test") == 1
    assert receiver.received[0].headers["Host"] == f"receiver.test:{port}"


# Hosts that passed registration once and that the client cannot parse, or reads as another
# host than the one written (issue 10, security item 1); each with the 422 message it now gets.
NUMBERS = "Write an IPv4 address as four decimal numbers without leading zeros (like 203.0.113.7), not "
NON_CANONICAL = [
    ("https://0177.0.0.1:9401/h", "This is not a valid URL (Invalid IPv4 address: '0177.0.0.1')."),
    ("https://0x7f000001/h", NUMBERS + "'0x7f000001'."),
    ("https://2130706433/h", NUMBERS + "'2130706433'."),
    ("https://127.1/h", NUMBERS + "'127.1'."),
    ("https://0/h", NUMBERS + "'0'."),
    ("https://1.2.3.4.5/h", NUMBERS + "'1.2.3.4.5'."),
    ("https://vm/h", "Use a fully qualified host name (like hooks.example.com), not 'vm'."),
    ("https://localhost./h", "Leave out the dot at the end of the host name 'localhost.'."),
    ("https://hooks.example.com./h", "Leave out the dot at the end of the host name 'hooks.example.com.'."),
    (
        "https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/h",  # fullwidth digits
        "This is not a valid URL (Invalid IDNA hostname: '\uff11\uff12\uff17.\uff10.\uff10.\uff11').",
    ),
    (
        "https://127.0.0.1%09/h",
        "'127.0.0.1%09' is not a valid host name: use letters, digits, hyphens and dots "
        "(at most 63 characters between dots).",
    ),
    (
        "https://hooks_1.example.com/h",
        "'hooks_1.example.com' is not a valid host name: use letters, digits, hyphens and dots "
        "(at most 63 characters between dots).",
    ),
    ("https://[fe80::1%25eth0]/h", "Leave out the IPv6 zone (%…): it names an interface of this machine."),
]
EMBEDDED = [
    ("https://[2002:7f00:1::]/h", "Webhooks cannot be sent to a loopback address."),  # 6to4 of 127.0.0.1
    ("https://[2002:a9fe:a9fe::]/h", "Webhooks cannot be sent to a cloud metadata address."),  # 6to4
    ("https://[64:ff9b::7f00:1]/h", "Webhooks cannot be sent to a loopback address."),  # NAT64
    ("https://[64:ff9b::a9fe:a9fe]/h", "Webhooks cannot be sent to a cloud metadata address."),
    ("https://[::ffff:a9fe:a9fe]/h", "Webhooks cannot be sent to a cloud metadata address."),  # mapped
    ("https://[::10.0.0.1]/h", "Webhooks cannot be sent to a private address."),  # IPv4-compatible
    # Teredo whose client (obfuscated in the last 32 bits) is 10.0.0.1.
    ("https://[2001:0:5db8:d70e::f5ff:fffe]/h", "Webhooks cannot be sent to a private address."),
    ("https://[2001:db8::5efe:a00:1]/h", "Webhooks cannot be sent to a private address."),  # ISATAP
]


@override_settings(WEBHOOK_ALLOW_PRIVATE=False)
@pytest.mark.parametrize(("url", "problem"), NON_CANONICAL + EMBEDDED)
def test_every_non_canonical_or_embedded_internal_host_is_refused_at_registration(
    brand, make_client, url, problem
):
    """Through the API, as production runs (no private receivers): 422 naming the url, nothing
    written."""
    client = make_client(brand, [Scope.ADMIN])
    response = client.post("/api/v1/endpoints", {"url": url}, format="json")

    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"] == {"url": [problem]}
    assert not Endpoint.objects.filter(brand=brand).exists()


@pytest.mark.parametrize(("url", "problem"), NON_CANONICAL)
def test_non_canonical_hosts_are_refused_even_where_private_receivers_are_allowed(brand, url, problem):
    with pytest.raises(Unprocessable) as caught:
        make_endpoint(brand, url)
    assert caught.value.errors == {"url": [problem]}


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("2002:7f00:1::", "a loopback address"),
        ("2002:a9fe:a9fe::", "a cloud metadata address"),
        ("2002:0a00:0001::", "a private address"),
        ("64:ff9b::7f00:1", "a loopback address"),
        ("64:ff9b:1::a00:1", "a private address"),
        ("::ffff:169.254.169.254", "a cloud metadata address"),
        ("::7f00:1", "a loopback address"),
        ("2001:0:5db8:d70e::f5ff:fffe", "a private address"),  # Teredo client 10.0.0.1
        ("2001:0:a00:1::a247:28f1", "a private address"),  # Teredo server 10.0.0.1
        ("2002:5db8:d70e::1", None),  # 6to4 of a public address: judged by that address
        ("64:ff9b::5db8:d70e", None),  # NAT64 of a public address
    ],
)
def test_embedded_ipv4_addresses_are_judged_by_the_address_they_carry(address, reason):
    assert address_refusal(ipaddress.ip_address(address), allow_private=False) == reason


def test_metadata_behind_6to4_is_refused_even_with_the_setting():
    assert address_refusal(ipaddress.ip_address("2002:a9fe:a9fe::"), allow_private=True) == (
        "a cloud metadata address"
    )


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTPS://Hooks.Example.COM:443/in?x=1", "https://hooks.example.com/in?x=1"),
        ("https://hooks.example.com:8443/in", "https://hooks.example.com:8443/in"),
        ("https://b\u00fccher.example/h", "https://xn--bcher-kva.example/h"),
        ("https://[2002:5DB8:D70E:0:0::1]/h", "https://[2002:5db8:d70e::1]/h"),
    ],
)
def test_registration_stores_the_url_as_the_client_reads_it(brand, url, canonical):
    assert url_normalise(url, allow_private=False) == (canonical, ())
    assert make_endpoint(brand, url).url == canonical


@pytest.mark.parametrize("url", [url for url, _ in NON_CANONICAL + EMBEDDED])
def test_a_bad_url_written_past_the_services_gets_one_failed_attempt_and_a_backoff(brand, url, settings):
    """The row is changed in the database directly (no validation). The worker's task makes one
    attempt, records it with the reason, schedules the retry, and returns normally: no
    exception, so no redelivery without end."""
    endpoint = make_endpoint(brand, "https://hooks.example.com/h")
    Endpoint.objects.filter(pk=endpoint.pk).update(url=url)
    settings.WEBHOOK_ALLOW_PRIVATE = False
    write_event(brand, 1, 1)
    fanout(endpoint)
    [delivery] = deliveries(endpoint)
    before = timezone.now()

    assert tasks.delivery_send(delivery.pk) is None  # returned normally

    [attempt] = Attempt.objects.filter(delivery=delivery)
    problems = url_normalise(url, allow_private=False)[1]
    assert (attempt.number, attempt.outcome, attempt.status_code) == (1, "refused", None)
    assert attempt.error == f"The URL is not allowed: {' '.join(problems)}"[:300]
    delivery = Delivery.objects.get(pk=delivery.pk)
    assert (delivery.status, delivery.attempt_count, delivery.leased_until) == ("pending", 1, None)
    assert delivery.next_attempt_at > before  # retried later, with the schedule's backoff


def test_any_error_while_sending_is_a_failed_attempt_with_a_backoff(brand, monkeypatch):
    """Whatever goes wrong inside an attempt (here the client raising something no handler
    expects) is recorded as a failed attempt with the reason; the task still returns."""
    endpoint = make_endpoint(brand, "https://hooks.example.com/h")
    write_event(brand, 1, 1)
    fanout(endpoint)
    [delivery] = deliveries(endpoint)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(sending.httpx.Client, "stream", broken)
    before = timezone.now()
    tasks.delivery_send(delivery.pk)

    [attempt] = Attempt.objects.filter(delivery=delivery)
    assert (attempt.outcome, attempt.error) == ("failed", "Not sent: RuntimeError: boom")
    delivery = Delivery.objects.get(pk=delivery.pk)
    assert (delivery.status, delivery.attempt_count, delivery.leased_until) == ("pending", 1, None)
    assert delivery.next_attempt_at > before


@pytest.fixture
def staff(client, db):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser("root", "root@example.com", "a-long-password-123")
    client.force_login(user)
    return client


def admin_form(brand, url):
    return {
        "brand": brand.pk,
        "url": url,
        "description": "",
        "event_types": "[]",
        "include_personal_data": "",
        "pseudonymous_contacts": "",
    }


@override_settings(WEBHOOK_ALLOW_PRIVATE=False)
@pytest.mark.parametrize(("url", "problem"), NON_CANONICAL + EMBEDDED)
def test_the_admin_refuses_the_same_hosts(staff, brand, url, problem):
    response = staff.post("/admin/sync/endpoint/add/", admin_form(brand, url))

    assert response.status_code == 200  # the form again, with the service's reason
    assert response.context["adminform"].form.errors["url"] == [problem]
    assert not Endpoint.objects.exists()


def test_the_admin_stores_the_canonical_url(staff, brand):
    response = staff.post("/admin/sync/endpoint/add/", admin_form(brand, "HTTPS://Hooks.Example.COM:443/in"))

    assert response.status_code == 302
    [endpoint] = Endpoint.objects.all()
    assert (endpoint.brand, endpoint.url, endpoint.status) == (
        brand,
        "https://hooks.example.com/in",
        "active",
    )
    change = admin_form(brand, "https://127.1/h")
    change.pop("brand")
    change["status"] = "active"
    response = staff.post(f"/admin/sync/endpoint/{endpoint.pk}/change/", change)
    assert response.context["adminform"].form.errors["url"] == [NUMBERS + "'127.1'."]
    assert Endpoint.objects.get(pk=endpoint.pk).url == "https://hooks.example.com/in"
