"""Server-sent events (API.md "Realtime"): the same events as the WebSocket, resumed by
Last-Event-ID, errors before the stream as plain API errors."""

from __future__ import annotations

import orjson

from tests.conftest import USER_PASSWORD, login
from tests.realtime.test_limits_and_revocation import SIGNED_IN
from tests.realtime.test_realtime_ws import create, make_posts


def test_events_stream_with_their_tokens_as_ids(sse, admin, anon):
    make_posts(admin)
    stream = sse("topics=posts")
    assert stream.status == 200
    assert stream.headers[b"content-type"].startswith(b"text/event-stream")
    ack = orjson.loads(stream.event()["data"])
    assert ack["type"] == "subscribed" and ack["id"] == "posts"
    post = create(anon, title="streamed")
    event = stream.event()
    frame = orjson.loads(event["data"])
    assert frame["record"] == post and frame["sub"] == "posts"
    assert event["id"] == frame["token"]


def test_last_event_id_resumes_after_that_event(sse, admin, anon):
    make_posts(admin)
    first = sse("topics=posts")
    first.event()
    a = create(anon, title="a")
    seen = first.event()["id"]
    first.close()
    b = create(anon, title="b")
    again = sse("topics=posts", headers=[(b"last-event-id", seen.encode())])
    again.event()  # subscribed
    assert orjson.loads(again.event()["data"])["record"]["id"] == b["id"]
    assert a["id"] != b["id"]


def test_the_authorization_header_decides_what_is_streamed(sse, admin, make_user):
    make_posts(admin, {**SIGNED_IN, "list": None, "view": None})
    refused = sse("topics=posts")
    assert refused.status == 401
    make_user("alice@example.com")
    token = login("alice@example.com", USER_PASSWORD)
    signed_in = [(b"authorization", f"Bearer {token}".encode())]
    assert sse("topics=posts", headers=signed_in).status == 403
    bad = sse("topics=posts", headers=[(b"authorization", b"Bearer nope")])
    assert bad.status == 401
    assert bad.body()["errors"][0]["code"] == "invalid_token"


def test_bad_requests_are_refused_before_streaming(sse, admin):
    make_posts(admin)
    assert sse("").status == 400
    assert sse("topics=nope").status == 404
    assert sse("topics=posts/bad%20id").status == 400
    stale = sse("topics=posts", headers=[(b"last-event-id", b"garbage")])
    assert stale.status == 400
    assert stale.body()["errors"][0]["param"] == "since"
