"""How a connection hands frames to its transport: at once while the transport has room,
queued in order behind a write the transport holds, and closed with 4008 when that queue
is full. A fake transport stands in for uvicorn's here; tests/e2e runs the real one."""

from __future__ import annotations

import asyncio

from django.test import override_settings

from apps.realtime import protocol
from apps.realtime.connection import Connection


class _Hub:
    def add(self, conn) -> None:
        pass

    def remove(self, conn) -> None:
        pass


class _Transport(Connection):
    """Writes like uvicorn's WebSocket protocol: wait while the peer's buffers are
    full (flow control), then write at once."""

    def __init__(self) -> None:
        super().__init__(_Hub())
        self.writable = asyncio.Event()
        self.writable.set()
        self.written: list[bytes] = []
        self.closed_with: int | None = None

    async def write(self, data: bytes) -> None:
        await self.writable.wait()
        self.written.append(data)

    async def close_transport(self, code: int, reason: str) -> None:
        self.closed_with = code


def _run(test) -> None:
    asyncio.run(test())


def test_frames_are_written_in_the_callers_turn_while_the_transport_has_room():
    async def test():
        conn = _Transport()
        conn.open()
        for i in range(3):
            conn.send(b"%d" % i)
        assert conn.written == [b"0", b"1", b"2"]  # no task switch needed
        assert conn._writer is None

    _run(test)


def test_frames_queue_in_order_behind_a_held_write_and_flow_on_when_it_frees():
    async def test():
        conn = _Transport()
        conn.open()
        conn.writable.clear()  # the peer stopped reading
        for i in range(5):
            conn.send(b"%d" % i)
        await asyncio.sleep(0.01)
        assert conn.written == []
        conn.writable.set()
        await asyncio.sleep(0.01)
        assert conn.written == [b"0", b"1", b"2", b"3", b"4"]
        conn.send(b"5")  # the transport has room again: at once
        assert conn.written[-1] == b"5" and conn._writer is None

    _run(test)


@override_settings(BAAS_REALTIME_SEND_QUEUE=3)
def test_a_full_queue_closes_the_connection_once_with_4008():
    async def test():
        conn = _Transport()
        conn.open()
        conn.writable.clear()
        for i in range(50):
            conn.send(b"%d" % i)
        await asyncio.sleep(0.01)
        assert conn.closed and conn.closed_with == protocol.SLOW_CONSUMER
        assert conn.written == []  # the held frames are dropped, not waited for

    _run(test)


def test_a_failing_write_closes_the_connection():
    async def test():
        class Broken(_Transport):
            async def write(self, data: bytes) -> None:
                raise ConnectionResetError

        conn = Broken()
        conn.open()
        conn.send(b"x")
        await asyncio.sleep(0.01)
        assert conn.closed and conn.closed_with == protocol.NORMAL

    _run(test)


# --- under uvicorn: frames go straight to the socket ---------------------------------


def test_framing_is_websockets_own():
    from websockets.frames import Frame, Opcode

    from apps.realtime.consumers import _framed

    for size in (0, 1, 125, 126, 127, 65535, 65536, 70000):
        data = b"x" * size
        assert _framed(data) == Frame(Opcode.TEXT, data).serialize(mask=False)
        assert _framed(data) is _framed(data)  # framed once for every subscriber


def test_under_uvicorn_frames_skip_the_asgi_send_and_arrive_whole():
    """uvicorn as `baas realtime` configures it (its default WebSocket implementation):
    the connection finds the server protocol behind the ASGI `send`, and what it writes
    directly is what a client reads, before and after other frames."""
    import socket
    import threading
    from types import SimpleNamespace

    import uvicorn
    from websockets.sync.client import connect

    from apps.realtime.consumers import _WebSocket

    seen = {}

    async def app(scope, receive, send):
        assert scope["type"] == "websocket"
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        conn = _WebSocket(SimpleNamespace(base_send=send, hub=_Hub()))
        seen["direct"] = conn.server is not None
        await send({"type": "websocket.send", "text": "first"})
        conn.send(b'{"type":"event","n":1}')
        conn.send(b"y" * 70000)
        await send({"type": "websocket.send", "text": "last"})
        await receive()  # the client's close

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, lifespan="off", log_level="warning", ws_per_message_deflate=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]})
    thread.start()
    try:
        port = sock.getsockname()[1]
        for _ in range(100):
            if server.started:
                break
            threading.Event().wait(0.05)
        with connect(f"ws://127.0.0.1:{port}/", max_size=None) as ws:
            got = [ws.recv(timeout=5) for _ in range(4)]
    finally:
        server.should_exit = True
        thread.join(10)
    assert seen["direct"] is True
    assert got == ["first", '{"type":"event","n":1}', "y" * 70000, "last"]
