"""The WSGI middleware in front of Django (baas/request_body.py): chunked bodies read in
full, bodies the application left unread drained before the answer, both bounded.

The real servers are exercised in tests/e2e/test_chunked_bodies.py and test_keep_alive.py;
these tests pin the WSGI contract with a stream that records what was read."""

from __future__ import annotations

import io
import json

import pytest

from baas.request_body import RequestBodyMiddleware

LIMIT = 1000


class ServerInput(io.BytesIO):
    """wsgi.input as granian and a2wsgi give it: the body, then b"" at its end."""

    def __init__(self, data: bytes, events: list):
        super().__init__(data)
        self.events = events

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        if data:
            self.events.append(("read", len(data)))
        return data


def environ_for(body: bytes, events: list, *, chunked: bool, **extra) -> dict:
    environ = {"REQUEST_METHOD": "POST", "wsgi.input": ServerInput(body, events)}
    if chunked:
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    else:
        environ["CONTENT_LENGTH"] = str(len(body))
    environ.update(extra)
    return environ


def run(app, environ: dict, events: list) -> tuple[str, dict[str, str], bytes]:
    started = {}

    def start_response(status, headers, exc_info=None):
        events.append(("start_response", status))
        started.update(status=status, headers=dict(headers))
        return lambda data: None

    body = b"".join(RequestBodyMiddleware(app, LIMIT)(environ, start_response))
    return started["status"], started["headers"], body


def echo(environ, start_response):
    """An application that reads its body as Django does: CONTENT_LENGTH bytes."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"length": length, "body": body.decode()}).encode()]


def refuses_unread(environ, start_response):
    """An application that answers from the headers alone (a 401, say)."""
    start_response("401 Unauthorized", [("Content-Type", "application/json")])
    return [b"{}"]


def test_a_chunked_body_reaches_the_application_with_its_length():
    events: list = []
    status, headers, body = run(
        echo, environ_for(b'{"title": "streamed"}', events, chunked=True), events
    )
    assert status == "200 OK"
    assert json.loads(body) == {"length": 21, "body": '{"title": "streamed"}'}
    assert "Connection" not in headers


def test_a_chunked_body_of_exactly_the_limit_is_read_whole():
    events: list = []
    _, _, body = run(echo, environ_for(b"x" * LIMIT, events, chunked=True), events)
    assert json.loads(body)["length"] == LIMIT


def test_a_chunked_body_over_the_limit_is_handed_on_as_too_large_and_closes():
    seen = {}

    def application(environ, start_response):
        seen["length"] = int(environ["CONTENT_LENGTH"])
        seen["body"] = environ["wsgi.input"].read()
        start_response("413 Request Entity Too Large", [])
        return [b""]

    events: list = []
    status, headers, _ = run(
        application, environ_for(b"x" * (LIMIT * 5), events, chunked=True), events
    )
    assert seen == {"length": LIMIT + 1, "body": b""}  # over the limit, never kept
    assert sum(n for kind, n in events if kind == "read") == LIMIT + 1
    assert headers["Connection"] == "close"


def test_a_body_left_unread_is_read_before_the_answer_starts():
    events: list = []
    status, headers, _ = run(
        refuses_unread, environ_for(b"y" * 300, events, chunked=False), events
    )
    assert status == "401 Unauthorized"
    assert sum(n for kind, n in events if kind == "read") == 300
    assert events[-1] == ("start_response", "401 Unauthorized")
    assert "Connection" not in headers


def test_a_body_declared_over_the_limit_is_not_read_and_the_answer_closes():
    events: list = []
    environ = environ_for(b"", events, chunked=False, CONTENT_LENGTH=str(LIMIT + 1))
    _, headers, _ = run(refuses_unread, environ, events)
    assert not [e for e in events if e[0] == "read"]
    assert headers["Connection"] == "close"


def test_a_body_without_any_length_is_read_too_as_http2_streams_it():
    events: list = []
    environ = environ_for(b'{"a": 1}', events, chunked=False)
    del environ["CONTENT_LENGTH"]  # HTTP/2: no content-length and no chunked coding
    _, _, body = run(echo, environ, events)
    assert json.loads(body) == {"length": 8, "body": '{"a": 1}'}


def test_a_post_with_no_body_at_all_has_length_zero():
    events: list = []
    environ = {"REQUEST_METHOD": "POST", "wsgi.input": ServerInput(b"", events)}
    _, _, body = run(echo, environ, events)
    assert json.loads(body) == {"length": 0, "body": ""}


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"CONTENT_LENGTH": ""},
        {"CONTENT_LENGTH": "0"},
        {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "0"},
    ],
)
def test_a_request_without_a_body_goes_straight_through(extra):
    calls = []

    def application(environ, start_response):
        calls.append(start_response)
        start_response("200 OK", [])
        return [b"ok"]

    def start_response(status, headers, exc_info=None):
        return lambda data: None

    environ = {"REQUEST_METHOD": "GET", "wsgi.input": io.BytesIO(b""), **extra}
    assert RequestBodyMiddleware(application, LIMIT)(environ, start_response) == [b"ok"]
    assert calls == [start_response]


def test_an_application_that_uses_write_starts_the_answer_first():
    written = []

    def application(environ, start_response):
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"early")
        return [b"late"]

    def start_response(status, headers, exc_info=None):
        written.append(("start", status))
        return lambda data: written.append(("write", data))

    environ = environ_for(b"z" * 10, [], chunked=False)
    result = RequestBodyMiddleware(application, LIMIT)(environ, start_response)
    assert written == [("start", "200 OK"), ("write", b"early")]
    assert result == [b"late"]


def test_the_wsgi_application_of_baas_reads_chunked_bodies():
    """baas.wsgi.application is wrapped: the entry point granian runs."""
    from baas import wsgi

    assert isinstance(wsgi.application, RequestBodyMiddleware)


def test_a_chunked_body_that_reaches_django_unread_is_411_not_an_empty_body(db):
    """Behind another entry point than baas.wsgi (Django's own WSGI handler, say), the
    body would read as empty: refused instead, in the envelope."""
    from django.test import Client

    response = Client().generic(
        "PATCH",
        "/api/v1/collections/notes/records/abc",
        HTTP_TRANSFER_ENCODING="chunked",
        content_type="application/json",
    )
    assert response.status_code == 411
    assert response.json()["errors"][0]["code"] == "length_required"
