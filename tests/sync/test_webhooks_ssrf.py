"""The SSRF guard: URLs checked at creation, addresses checked at every connect, and the
connection made to the address that was checked."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from django.test import override_settings

from config.errors import Unprocessable
from sync.delivery.ssrf import address_refusal, url_validate
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
        ("https://hooks.example.com:99999/", "This is not a valid URL."),
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
