"""Realtime through `baas serve`, as an app sees it: REST, WebSocket and server-sent events
on one base URL (haproxy routes by path: baas/front.py), events after writes made over
REST, and "going away" when the server stops."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.e2e import servers
from tests.e2e.servers import EMAIL, PASSWORD

pytestmark = pytest.mark.slow

POSTS = "/api/v1/collections/posts/records"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("realtime-data")
    with servers.serving(
        data_dir,
        BAAS_REALTIME_SEND_QUEUE="50",
        BAAS_REALTIME_HEARTBEAT="2",
        BAAS_EMAIL_VERIFICATION="none",
    ) as (server, _):
        yield server


@pytest.fixture(scope="module")
def api(served):
    api = servers.login(servers.url_in(served.stdout()), EMAIL, PASSWORD)
    response = api.post(
        "/api/v1/collections",
        {
            "name": "posts",
            "fields": [{"name": "title", "type": "text"}],
            "rules": {"list": "", "view": "", "create": "", "update": ""},
        },
    )
    assert response.status_code == 201, response.text
    return api


def _ws_url(api) -> str:
    return api.base_url.replace("http://", "ws://") + "/api/v1/realtime"


def _frame(ws, timeout: float = 10.0) -> dict:
    return json.loads(ws.recv(timeout=timeout))


def test_a_websocket_on_the_api_port_receives_writes_made_over_rest(api):
    with connect(_ws_url(api)) as ws:
        ws.send(json.dumps({"type": "subscribe", "id": "s1", "topic": "posts"}))
        ack = _frame(ws)
        assert ack["type"] == "subscribed"
        created = api.post(POSTS, {"title": "over REST"}).json()
        event = _frame(ws)
        assert event["action"] == "create" and event["record"] == created
        # Resuming from the ack's token replays what this socket already saw.
        with connect(_ws_url(api)) as again:
            again.send(
                json.dumps(
                    {
                        "type": "subscribe",
                        "id": "r",
                        "topic": "posts",
                        "since": ack["token"],
                    }
                )
            )
            assert _frame(again)["type"] == "subscribed"
            assert _frame(again)["record"]["id"] == created["id"]


def test_server_sent_events_on_the_same_port(api):
    lines: list[str] = []
    ready = threading.Event()

    def read():
        with requests.get(
            api.base_url + "/api/v1/realtime/sse?topics=posts", stream=True, timeout=15
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines(decode_unicode=True):
                lines.append(line)
                if line.startswith("data:") and '"subscribed"' in line:
                    ready.set()
                if line == "" and any(seen.startswith("id:") for seen in lines):
                    return  # the end of the first event

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert ready.wait(10), lines
    created = api.post(POSTS, {"title": "streamed"}).json()
    reader.join(10)
    event_id = next(line for line in lines if line.startswith("id:"))
    assert event_id.split(": ", 1)[1]
    data = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert data[-1]["record"]["id"] == created["id"]


def test_sse_refuses_a_bad_token_with_the_error_envelope(api):
    response = requests.get(
        api.base_url + "/api/v1/realtime/sse?topics=posts",
        headers={"Authorization": "Bearer nope"},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "invalid_token"


def test_a_slow_client_is_dropped_and_never_slows_the_others(api):
    """A client that stops reading: its queue fills and it is closed with 4008, while a
    reading client keeps getting every event."""
    big = "x" * 100_000
    with (
        connect(_ws_url(api), max_queue=1) as slow,
        connect(_ws_url(api), max_queue=None) as fast,
    ):
        for ws in (slow, fast):
            ws.send(json.dumps({"type": "subscribe", "id": "s", "topic": "posts"}))
            assert _frame(ws)["type"] == "subscribed"
        received = []

        def read_fast():
            while len(received) < 150:
                frame = _frame(fast, timeout=30)
                if frame["type"] == "event":
                    received.append(frame["record"]["title"])

        reader = threading.Thread(target=read_fast, daemon=True)
        reader.start()
        for i in range(150):  # 15 MB: more than the socket buffers between them hold
            assert api.post(POSTS, {"title": f"{i}:{big}"}).status_code == 201
        reader.join(60)
        assert [t.split(":")[0] for t in received] == [str(i) for i in range(150)]
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                slow.recv(timeout=30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008


VANISHING_CLIENT = """
import json, sys, time
from websockets.sync.client import connect
ws = connect(sys.argv[1])
ws.send(json.dumps({"type": "auth", "token": sys.argv[2]}))
ws.send(json.dumps({"type": "subscribe", "id": "c", "topic": "channel:room"}))
while json.loads(ws.recv())["type"] != "subscribed":
    pass
print("joined", flush=True)
time.sleep(600)
"""


def test_a_client_that_vanishes_leaves_presence_after_missing_its_heartbeat(api):
    response = api.post(
        "/api/v1/channels",
        {"name": "room", "rules": {"subscribe": "", "publish": ""}, "presence": True},
    )
    assert response.status_code == 201, response.text
    signed = requests.post(
        api.base_url + "/api/v1/auth/signup",
        json={"email": "vanishing@example.com", "password": "Vanish-pass-123"},
        timeout=30,
    )
    assert signed.status_code == 200, signed.text
    token = signed.json()["meta"]["access_token"]
    user = str(signed.json()["data"]["user"]["id"])
    with connect(_ws_url(api)) as watcher:
        watcher.send(
            json.dumps({"type": "subscribe", "id": "w", "topic": "channel:room"})
        )
        assert _frame(watcher)["members"] == []
        client = subprocess.Popen(
            [sys.executable, "-c", VANISHING_CLIENT, _ws_url(api), token],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert client.stdout.readline().strip() == "joined"
            joined = _frame(watcher)
            assert (joined["type"], joined["action"], joined["user"]) == (
                "presence",
                "join",
                user,
            )
            client.send_signal(signal.SIGSTOP)  # gone, without a goodbye
            started = time.monotonic()
            while True:  # the server's pings go unanswered: 2 + 4 s, then it leaves
                frame = _frame(watcher, timeout=20)
                if frame["type"] == "presence":
                    break
            assert (frame["action"], frame["user"]) == ("leave", user)
            assert time.monotonic() - started < 15
        finally:
            client.kill()
            client.wait()


def test_stopping_the_server_closes_sockets_with_going_away(served, api):
    with connect(_ws_url(api)) as ws:
        ws.send(json.dumps({"type": "subscribe", "id": "s1", "topic": "posts"}))
        assert _frame(ws)["type"] == "subscribed"
        served.stop()
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
