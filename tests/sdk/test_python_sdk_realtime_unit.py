"""The Python SDK's realtime client (sdk/python, `client.realtime`) against a scripted
fake socket: backoff, heartbeat, resuming with `since`, close codes, pacing. The live
tests (test_python_sdk_realtime.py) run it against `baas serve`."""

from __future__ import annotations

import json
import queue
import random
import sys
import threading
import time
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

PYTHON_SDK = Path(__file__).resolve().parents[2] / "sdk" / "python"
if str(PYTHON_SDK) not in sys.path:
    sys.path.insert(0, str(PYTHON_SDK))

from baas_client import BaasError, Client  # noqa: E402
from baas_client.realtime import realtime_url  # noqa: E402

WAIT = 5.0


class FakeSocket:
    """One connection: what the client sent, and frames (or a close) to hand it."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.sent: list[dict] = []
        self.inbox: queue.Queue = queue.Queue()
        self.closed = False

    def send(self, text: str) -> None:
        if self.closed:
            raise ConnectionClosed(None, None)
        frame = json.loads(text)
        self.sent.append(frame)
        self.server.on_frame(self, frame)

    def recv(self, timeout: float | None = None) -> str:
        try:
            item = self.inbox.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError from None
        if isinstance(item, Close):
            self.closed = True
            raise ConnectionClosed(item, None)
        if item is None:
            self.closed = True
            raise ConnectionClosed(None, None)  # no close frame: the network died
        return item

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.inbox.put(None)

    def __enter__(self) -> FakeSocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def push(self, frame: dict) -> None:
        self.inbox.put(json.dumps(frame))

    def close_with(self, code: int, reason: str = "") -> None:
        self.inbox.put(Close(code, reason))

    def of_type(self, kind: str) -> list[dict]:
        return [f for f in list(self.sent) if f.get("type") == kind]


class FakeServer:
    """The socket factory: answers `subscribe`, `ping` and `publish` like the server,
    unless told otherwise; `refuse` makes a connection attempt fail."""

    def __init__(self) -> None:
        self.sockets: list[FakeSocket] = []
        self.attempts: list[float] = []
        self.refuse = 0  # this many next attempts fail
        self.answer_pings = True
        self.ack_token = "t-ack"
        self.errors: dict[str, dict] = {}  # sub id -> error frame for its subscribe
        self.lock = threading.Lock()
        self.opened = threading.Condition(self.lock)

    def __call__(self, url: str, **options) -> FakeSocket:
        assert url == "ws://fake.test/api/v1/realtime"
        assert options["ping_interval"] is None
        with self.lock:
            self.attempts.append(time.monotonic())
            if self.refuse:
                self.refuse -= 1
                raise ConnectionRefusedError("refused")
            sock = FakeSocket(self)
            self.sockets.append(sock)
            self.opened.notify_all()
            return sock

    def on_frame(self, sock: FakeSocket, frame: dict) -> None:
        kind = frame["type"]
        if kind == "subscribe":
            error = self.errors.pop(frame["id"], None)
            if error is not None:
                sock.push({"type": "error", "id": frame["id"], **error})
            else:
                sock.push(
                    {"type": "subscribed", "id": frame["id"], "token": self.ack_token}
                )
        elif kind == "ping" and self.answer_pings:
            sock.push({"type": "pong"})
        elif kind == "publish":
            sock.push({"type": "published", "id": frame["id"]})

    def socket(self, index: int, timeout: float = WAIT) -> FakeSocket:
        with self.opened:
            assert self.opened.wait_for(lambda: len(self.sockets) > index, timeout), (
                f"no connection #{index + 1} (attempts: {len(self.attempts)})"
            )
            return self.sockets[index]


def wait_until(predicate, timeout: float = WAIT, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


class Events:
    def __init__(self) -> None:
        self.items: list = []

    def __call__(self, item) -> None:
        self.items.append(item)


@pytest.fixture
def fake():
    return FakeServer()


@pytest.fixture
def client(fake):
    client = Client("http://fake.test", timeout=5)
    client.realtime._socket_factory = fake
    client.realtime.reconnect_min = 0.02
    client.realtime.reconnect_max = 0.1
    yield client
    client.close()


def event(sub_id: str, token: str, record_id: str, action: str = "create") -> dict:
    return {
        "type": "event",
        "sub": sub_id,
        "action": action,
        "record": {"id": record_id},
        "token": token,
    }


def test_the_url_follows_the_rest_base():
    assert realtime_url("http://h:8000/api/v1") == "ws://h:8000/api/v1/realtime"
    assert realtime_url("https://api.example.com/api/v1") == (
        "wss://api.example.com/api/v1/realtime"
    )
    with Client("https://api.example.com") as client:
        assert client.realtime.url == "wss://api.example.com/api/v1/realtime"
        assert client.realtime.state == "idle"  # nothing opens before a subscription


def test_subscribe_waits_for_the_ack_and_events_reach_the_callback(client, fake):
    events = Events()
    sub = client.realtime.subscribe("posts", events, filter="rank > 1")
    sock = fake.socket(0)
    assert sock.sent[0] == {
        "type": "subscribe",
        "id": sub._wire.id,
        "topic": "posts",
        "filter": "rank > 1",
    }
    assert client.realtime.state == "open"  # anonymous: open at once
    wait_until(lambda: sub.token == "t-ack", what="the ack's token")
    sock.push(event(sub._wire.id, "t1", "a"))
    sock.push(event(sub._wire.id, "t2", "a", "update"))
    wait_until(lambda: len(events.items) == 2)
    assert events.items[0] == {"action": "create", "record": {"id": "a"}, "token": "t1"}
    assert sub.token == "t2"
    sub.unsubscribe()
    assert sock.sent[-1] == {"type": "unsubscribe", "id": sub._wire.id}
    sock.push(event(sub._wire.id, "t3", "a"))
    time.sleep(0.05)
    assert len(events.items) == 2 and not sub.active


def test_a_refused_subscription_raises_the_servers_error(client, fake):
    fake.errors["s1"] = {
        "status": 404,
        "errors": [
            {"code": "collection_not_found", "message": "No.", "param": "topic"}
        ],
    }
    with pytest.raises(BaasError) as caught:
        client.realtime.subscribe("nope", Events())
    assert caught.value.status == 404
    assert caught.value.code == "collection_not_found"
    assert caught.value.param == "topic"


def test_after_going_away_it_reconnects_at_once_and_resumes_from_the_last_token(
    client, fake
):
    events = Events()
    sub = client.realtime.subscribe("posts", events)
    first = fake.socket(0)
    first.push(event(sub._wire.id, "t1", "a"))
    wait_until(lambda: sub.token == "t1")
    first.close_with(1001, "server shutting down")
    second = fake.socket(1)
    assert fake.attempts[1] - fake.attempts[0] < 1.0
    wait_until(lambda: second.of_type("subscribe"))
    assert second.of_type("subscribe")[0]["since"] == "t1"
    # The resumed ack's token counts only once a pong proves the replay arrived.
    wait_until(lambda: second.of_type("ping"), what="the ping after a resumed ack")
    wait_until(lambda: sub._wire.token == "t-ack", what="the advanced token")
    second.push(event(sub._wire.id, "t2", "b"))
    wait_until(lambda: len(events.items) == 2)
    assert [e["token"] for e in events.items] == ["t1", "t2"]


def test_a_resumed_ack_is_not_the_resume_point_before_its_replay_arrived(client, fake):
    sub = client.realtime.subscribe("posts", Events(), since="t0")
    sock = fake.socket(0)
    assert sock.of_type("subscribe")[0]["since"] == "t0"
    fake.answer_pings = False  # the replay is "still coming": no pong
    sock.close_with(1011)
    again = fake.socket(1)
    wait_until(lambda: again.of_type("subscribe"))
    assert again.of_type("subscribe")[0]["since"] == "t0"
    assert sub.token == "t0"


def test_backoff_doubles_with_jitter_up_to_the_maximum(client, fake):
    rt = client.realtime
    rt.reconnect_min, rt.reconnect_max = 0.5, 30.0
    random.seed(1)
    from baas_client.realtime import _Run

    run = _Run()
    delays = [rt._backoff(run) for _ in range(9)]
    for attempt, delay in enumerate(delays):
        base = min(30.0, 0.5 * 2**attempt)
        assert base / 2 <= delay <= base, (attempt, delay)
    assert delays[-1] >= 15.0
    run = _Run()
    assert rt._backoff(run, immediate=True) == 0.0  # once
    assert rt._backoff(run, immediate=True) > 0.0


def test_failed_connections_back_off_and_a_subscription_answered_resets_it(
    client, fake
):
    rt = client.realtime
    rt.reconnect_min, rt.reconnect_max = 0.05, 0.4
    fake.refuse = 4
    sub = rt.subscribe("posts", Events())
    gaps = [b - a for a, b in zip(fake.attempts, fake.attempts[1:], strict=False)]
    assert len(gaps) == 4
    for attempt, gap in enumerate(gaps):
        base = min(0.4, 0.05 * 2**attempt)
        assert gap >= base / 2 - 0.01, (attempt, gap)
    assert gaps[3] > 0.1
    wait_until(lambda: sub.token == "t-ack")
    fake.socket(0).close_with(1011)  # backs off from the start again
    fake.socket(1)
    assert fake.attempts[-1] - fake.attempts[-2] < 0.2


def test_a_silent_connection_is_dropped_after_the_ping_timeout(client, fake):
    rt = client.realtime
    rt.ping_interval, rt.ping_timeout = 0.1, 0.15
    states = Events()
    rt.on_state_change(states)
    rt.subscribe("posts", Events())
    first = fake.socket(0)
    wait_until(lambda: first.of_type("ping"), what="a ping")
    fake.answer_pings = False  # nothing arrives any more
    second = fake.socket(1, timeout=3)
    assert first.closed
    assert second.of_type("subscribe")
    wait_until(lambda: "reconnecting" in states.items)


def test_pings_answered_keep_the_connection(client, fake):
    rt = client.realtime
    rt.ping_interval, rt.ping_timeout = 0.05, 0.1
    rt.subscribe("posts", Events())
    sock = fake.socket(0)
    wait_until(lambda: len(sock.of_type("ping")) >= 5, what="five pings")
    assert len(fake.sockets) == 1 and not sock.closed


def test_resync_required_on_resume_tells_on_error_and_goes_on_without_since(
    client, fake
):
    errors = Events()
    sub = client.realtime.subscribe("posts", Events(), since="old", on_error=errors)
    sock = fake.socket(0)
    sock.push(event(sub._wire.id, "t5", "a"))
    wait_until(lambda: sub.token == "t5")
    fake.errors[sub._wire.id] = {
        "status": 410,
        "errors": [{"code": "resync_required", "message": "Too old."}],
    }
    sock.close_with(4008)
    again = fake.socket(1)
    wait_until(lambda: len(again.of_type("subscribe")) == 2)
    first, second = again.of_type("subscribe")
    assert first["since"] == "t5" and "since" not in second
    wait_until(lambda: errors.items)
    assert errors.items[0].code == "resync_required" and errors.items[0].status == 410
    assert sub.active
    wait_until(lambda: sub.token == "t-ack")


def test_a_subscription_refused_after_a_reconnect_ends_and_tells_on_error(client, fake):
    errors, fallback = Events(), Events()
    client.realtime.on_error(fallback)
    sub = client.realtime.subscribe("posts", Events(), on_error=errors)
    other = client.realtime.subscribe("notes", Events())
    fake.errors[sub._wire.id] = {"status": 403, "errors": [{"code": "forbidden"}]}
    fake.errors[other._wire.id] = {"status": 404, "errors": [{"code": "gone"}]}
    fake.socket(0).close_with(1011)
    wait_until(lambda: errors.items and fallback.items)
    assert errors.items[0].code == "forbidden" and not sub.active
    assert fallback.items[0].code == "gone" and not other.active


def test_resubscribing_many_topics_stays_under_the_servers_frame_rate(client, fake):
    rt = client.realtime
    for n in range(45):
        rt.subscribe(f"c{n}", Events())
    sock = fake.socket(0)
    sock.close_with(1001)
    again = fake.socket(1)
    started = time.monotonic()
    wait_until(lambda: len(again.of_type("subscribe")) == 45)
    assert time.monotonic() - started > 0.2  # 40 at once, then 15 a second


def test_publish_waits_for_published_and_raises_a_refusal(client, fake):
    channel = client.realtime.channel("room-1")
    channel.publish({"text": "hi"})
    sock = fake.socket(0)
    assert sock.of_type("publish")[0]["data"] == {"text": "hi"}
    assert sock.of_type("publish")[0]["topic"] == "channel:room-1"

    def refuse(s, frame):
        if frame["type"] == "publish":
            s.push(
                {
                    "type": "error",
                    "id": frame["id"],
                    "status": 403,
                    "errors": [{"code": "forbidden", "message": "No."}],
                }
            )
        else:
            FakeServer.on_frame(fake, s, frame)

    fake.on_frame = refuse
    with pytest.raises(BaasError) as caught:
        channel.publish("again")
    assert caught.value.status == 403


def test_channel_messages_presence_and_members(client, fake):
    fake.ack_token = None
    messages, changes = Events(), Events()
    channel = client.realtime.channel("room-1")
    assert client.realtime.channel("room-1") is channel

    def with_members(s, frame):
        if frame["type"] == "subscribe":
            s.push({"type": "subscribed", "id": frame["id"], "members": ["u1"]})
        else:
            FakeServer.on_frame(fake, s, frame)

    fake.on_frame = with_members
    stop = channel.on_presence(changes)
    sub = channel.subscribe(messages)
    sock = fake.socket(0)
    assert len(sock.of_type("subscribe")) == 1  # one per channel
    sock.push(
        {"type": "presence", "topic": "channel:room-1", "action": "join", "user": "u2"}
    )
    sock.push({"type": "message", "topic": "channel:room-1", "data": [1], "from": "u2"})
    wait_until(lambda: messages.items and len(changes.items) == 2)
    assert messages.items == [{"topic": "channel:room-1", "data": [1], "from": "u2"}]
    assert changes.items == [
        {"action": "sync", "user": None, "members": ["u1"]},
        {"action": "join", "user": "u2", "members": ["u1", "u2"]},
    ]
    assert channel.members == ["u1", "u2"]
    sub.unsubscribe()
    assert not sock.of_type("unsubscribe")  # the presence listener keeps it
    stop()
    assert sock.of_type("unsubscribe")
    assert channel.members == []


def test_callbacks_run_on_their_own_thread_and_may_subscribe(client, fake):
    threads, inner = set(), []

    def on_event(event):
        threads.add(threading.current_thread().name)
        inner.append(client.realtime.subscribe("other", Events()))

    sub = client.realtime.subscribe("posts", on_event)
    fake.socket(0).push(event(sub._wire.id, "t1", "a"))
    wait_until(lambda: inner)
    assert threads == {"baas-realtime-callbacks"}
    assert inner[0].active


def test_close_ends_everything_and_a_new_subscription_reconnects(client, fake):
    states = Events()
    client.realtime.on_state_change(states)
    sub = client.realtime.subscribe("posts", Events())
    client.realtime.close()
    assert not sub.active and client.realtime.state == "idle"
    assert fake.socket(0).closed
    assert not [t for t in threading.enumerate() if t.name == "baas-realtime"]
    again = client.realtime.subscribe("posts", Events())
    assert again.active and len(fake.sockets) == 2
    assert "since" not in fake.socket(1).of_type("subscribe")[0]
    expected = ["connecting", "open", "idle", "connecting", "open"]
    wait_until(lambda: states.items == expected, what=f"states {expected}")


def test_a_subscription_times_out_when_no_connection_can_be_made(client, fake):
    fake.refuse = 10**6
    with pytest.raises(BaasError) as caught:
        client.realtime.subscribe("posts", Events(), timeout=0.3)
    assert caught.value.code == "network_error" and caught.value.status == 0
    wait_until(lambda: client.realtime.state == "idle", what="idle")


def test_an_api_key_is_the_first_frame(fake):
    with Client("http://fake.test", api_key="bk_test") as client:
        client.realtime._socket_factory = fake
        states = Events()
        client.realtime.on_state_change(states)
        fake.on_frame = lambda s, f: (
            s.push({"type": "authenticated", "user": None, "expires": None})
            if f["type"] == "auth"
            else FakeServer.on_frame(fake, s, f)
        )
        client.realtime.subscribe("posts", Events())
        sock = fake.socket(0)
        assert sock.sent[0] == {"type": "auth", "token": "bk_test"}
        assert sock.sent[1]["type"] == "subscribe"
        wait_until(lambda: "open" in states.items)


def test_an_api_key_refused_waits_idle_and_reports_invalid_token(fake):
    with Client("http://fake.test", api_key="bk_bad") as client:
        client.realtime._socket_factory = fake
        errors = Events()
        client.realtime.on_error(errors)
        client.realtime.reconnect_min = 0.01
        fake.on_frame = lambda s, f: s.close_with(4001) if f["type"] == "auth" else None
        with pytest.raises(BaasError) as caught:
            client.realtime.subscribe("posts", Events())
        assert caught.value.code == "invalid_token"  # at once, not after the timeout
        wait_until(lambda: errors.items)
        assert errors.items[0].code == "invalid_token" and errors.items[0].status == 401
        assert len(fake.sockets) == 1  # not again with the same credential


def test_the_thread_ends_when_nothing_is_wanted_while_it_waits(client, fake):
    rt = client.realtime
    rt.reconnect_min = rt.reconnect_max = 30.0  # a long wait to retry
    sub = rt.subscribe("posts", Events())
    fake.refuse = 10**6
    fake.socket(0).close_with(1011)
    wait_until(lambda: rt.state == "reconnecting")
    sub.unsubscribe()
    wait_until(lambda: rt.state == "idle", what="idle")
    wait_until(
        lambda: not [t for t in threading.enumerate() if t.name == "baas-realtime"],
        what="the thread to end",
    )
