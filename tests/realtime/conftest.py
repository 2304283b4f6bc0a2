import pytest

from tests.realtime.live import Loop, Socket, Stream


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
