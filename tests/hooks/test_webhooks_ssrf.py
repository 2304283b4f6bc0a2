"""Webhooks never reach what they must not: loopback, private, link-local and metadata
addresses are refused at creation (400) and again at every delivery (DNS may have
changed), also through a host name or a redirect, unless BAAS_WEBHOOK_ALLOW_PRIVATE;
answers are read up to 64 KB; slow receivers are cut off at the timeout."""

from __future__ import annotations

import socket
import time

import pytest

from apps.hooks import webhook_http
from tests.hooks import webhook_helpers
from tests.hooks.webhook_helpers import (
    create_webhook,
    deliveries,
    start_receiver,
    wait_for,
)
from tests.records.test_records_crud import records_url

# fixtures shared by the webhook tests
eager_errors = webhook_helpers.eager_errors
posts = webhook_helpers.posts
private_allowed = webhook_helpers.private_allowed
receiver = webhook_helpers.receiver

WEBHOOKS = "/api/v1/webhooks"
MB = 1024 * 1024


@pytest.fixture
def private_refused(settings):
    settings.BAAS_WEBHOOK_ALLOW_PRIVATE = False
    settings.BAAS_WEBHOOK_TIMEOUT = 2.0
    return settings


@pytest.fixture
def fake_dns(monkeypatch):
    """`fake_dns["hooks.example.com"] = "93.184.215.14"`: what the resolver answers for
    a name (other names resolve as usual)."""
    answers: dict[str, str] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            family = socket.AF_INET6 if ":" in answers[host] else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(webhook_http.socket, "getaddrinfo", getaddrinfo)
    return answers


# --- addresses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address, reason",
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "metadata"),
        ("169.254.1.1", "link-local"),
        ("100.64.0.1", "not a public"),  # carrier-grade NAT
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "private"),  # reserved
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd00:ec2::254", "metadata"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "metadata"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "metadata"),  # NAT64 of 169.254.169.254
        ("ff02::1", "multicast"),
    ],
)
def test_internal_addresses_are_forbidden(address, reason):
    assert reason in webhook_http.why_forbidden(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "1.1.1.1"])
def test_public_addresses_are_allowed(address):
    assert webhook_http.why_forbidden(address) is None


# --- at creation ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/hook",
        "http://[::ffff:127.0.0.1]:{port}/hook",
        "http://[fd00:ec2::254]/",
        "http://localhost:{port}/hook",  # a name that resolves to loopback
        "http://2130706433/",  # 127.0.0.1 spelled as a number
        "http://internal.example.com/hook",  # resolves to 10.0.0.5 (fake_dns)
    ],
)
def test_internal_targets_are_refused_at_creation(
    admin, posts, receiver, private_refused, fake_dns, url
):
    fake_dns["internal.example.com"] = "10.0.0.5"
    port = receiver.server.server_address[1]
    response = admin.post(
        WEBHOOKS,
        {"url": url.format(port=port), "events": ["posts.*"]},
        format="json",
    )
    assert response.status_code == 400, response.content
    (error,) = response.json()["errors"]
    assert (error["param"], error["code"]) == ("url", "invalid_url")
    assert "BAAS_WEBHOOK_ALLOW_PRIVATE" in error["message"]


@pytest.mark.django_db(transaction=True)
def test_a_public_host_is_accepted_and_an_unresolvable_one_too(
    admin, posts, private_refused, fake_dns
):
    fake_dns["hooks.example.com"] = "93.184.215.14"
    create_webhook(admin, "https://hooks.example.com/in")
    create_webhook(admin, "https://not-yet.invalid/in")  # checked at every delivery


# --- at delivery ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_errors")
def test_a_host_that_now_resolves_to_loopback_is_refused_at_delivery(
    admin, posts, receiver, private_refused, fake_dns
):
    fake_dns["hooks.example.com"] = "93.184.215.14"
    port = receiver.server.server_address[1]
    create_webhook(admin, f"http://hooks.example.com:{port}/hook")
    fake_dns["hooks.example.com"] = "127.0.0.1"  # DNS rebinding
    admin.post(records_url("posts"), {"title": "a"}, format="json")
    (delivery,) = deliveries()
    assert delivery.state == "pending" and delivery.status_code is None
    assert delivery.last_error.startswith("Refused: hooks.example.com resolves to")
    assert receiver.requests == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_errors")
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
def test_loopback_targets_are_refused_at_delivery_once_private_is_off(
    admin, posts, receiver, settings, host
):
    settings.BAAS_WEBHOOK_ALLOW_PRIVATE = True
    port = receiver.server.server_address[1]
    create_webhook(admin, f"http://{host}:{port}/hook")
    settings.BAAS_WEBHOOK_ALLOW_PRIVATE = False
    admin.post(records_url("posts"), {"title": "a"}, format="json")
    (delivery,) = deliveries()
    assert delivery.last_error.startswith("Refused:"), delivery.last_error
    assert receiver.requests == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_errors", "private_allowed")
def test_a_redirect_is_not_followed(admin, posts, receiver):
    inside = start_receiver()  # what the redirect points at
    try:

        def redirect(handler):
            handler.send_response(302)
            handler.send_header("Location", inside.url)
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        receiver.handler = redirect
        create_webhook(admin, receiver.url)
        admin.post(records_url("posts"), {"title": "a"}, format="json")
        (delivery,) = deliveries()
        assert (delivery.state, delivery.status_code) == ("pending", 302)
        assert delivery.last_error == f"Redirect (302) to {inside.url} not followed."
        assert len(receiver.requests) == 1 and inside.requests == []
    finally:
        inside.server.shutdown()
        inside.server.server_close()


# --- answers: size and time -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_errors", "private_allowed")
def test_at_most_64_kb_of_an_answer_is_read(admin, posts, receiver):
    written: list[int] = []

    def huge(handler):
        handler.send_response(500)
        handler.send_header("Content-Length", str(50 * MB))
        handler.end_headers()
        sent = 0
        try:
            while sent < 50 * MB:
                handler.wfile.write(b"x" * 65536)
                sent += 65536
        except OSError:
            pass
        written.append(sent)

    receiver.handler = huge
    create_webhook(admin, receiver.url)
    started = time.monotonic()
    admin.post(records_url("posts"), {"title": "a"}, format="json")
    assert time.monotonic() - started < 5
    (delivery,) = deliveries()
    assert delivery.status_code == 500 and len(delivery.last_error) <= 500
    assert wait_for(lambda: written)[0] < 50 * MB  # the server was cut off

    outcome = webhook_http.post(receiver.url, b"{}", {}, timeout=2, allow_private=True)
    assert outcome.status == 500 and len(outcome.body) == webhook_http.MAX_RESPONSE


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_errors", "private_allowed")
def test_a_receiver_that_answers_too_slowly_times_out(admin, posts, receiver, settings):
    settings.BAAS_WEBHOOK_TIMEOUT = 0.5

    def slow(handler):
        time.sleep(3)

    receiver.handler = slow
    create_webhook(admin, receiver.url)
    started = time.monotonic()
    admin.post(records_url("posts"), {"title": "a"}, format="json")
    assert time.monotonic() - started < 2.5
    (delivery,) = deliveries()
    assert delivery.state == "pending" and delivery.status_code is None
    assert delivery.last_error.startswith("Timed out")


def test_a_receiver_that_trickles_its_answer_is_cut_off_at_twice_the_timeout():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def trickle():
        conn, _ = listener.accept()
        try:
            conn.recv(65536)
            for _ in range(100):  # a header byte every 0.1 s: each read is quick
                conn.sendall(b"X")
                time.sleep(0.1)
        except OSError:
            pass
        finally:
            conn.close()

    import threading

    threading.Thread(target=trickle, daemon=True).start()
    port = listener.getsockname()[1]
    started = time.monotonic()
    outcome = webhook_http.post(
        f"http://127.0.0.1:{port}/", b"{}", {}, timeout=0.5, allow_private=True
    )
    assert time.monotonic() - started < 2
    assert outcome.status is None and outcome.error.startswith("Timed out")
    listener.close()
