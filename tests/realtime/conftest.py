import pytest

from apps.realtime import bus
from tests.realtime.live import Loop, Socket, Stream


@pytest.fixture(autouse=True)
def writers_see_subscriptions_at_once(monkeypatch):
    """Writers look for the collections a hub listens to on every commit, not once a
    second: on SQLite the events of a write then go out from what the writer sent
    (bus._changes_message), and every test here covers that path too."""
    monkeypatch.setattr(bus, "LOOK_SECONDS", 0.0)


@pytest.fixture
def live(schema_db):
    """live() -> a connected WebSocket client of an in-process realtime hub."""
    loop = Loop()
    sockets: list[Socket] = []

    def connect(headers=None) -> Socket:
        socket = Socket(loop, headers=headers)
        sockets.append(socket)
        return socket

    yield connect
    for socket in sockets:
        try:
            socket.close()
        except Exception:
            pass
    loop.stop()


@pytest.fixture
def sse(schema_db):
    """sse(query, headers) -> a server-sent-events stream of an in-process hub."""
    loop = Loop()
    streams: list[Stream] = []

    def open_stream(query: str, headers=None) -> Stream:
        stream = Stream(loop, query, headers=headers)
        streams.append(stream)
        return stream

    yield open_stream
    for stream in streams:
        try:
            stream.close()
        except Exception:
            pass
    loop.stop()
