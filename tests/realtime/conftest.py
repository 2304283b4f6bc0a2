import pytest

from tests.realtime.live import Loop, Socket


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
