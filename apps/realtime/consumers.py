"""The WebSocket transport of `/api/v1/realtime` (a Channels consumer, without a channel
layer: events come from this process's hub, apps.realtime.hub)."""

from __future__ import annotations

import struct

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from uvicorn.protocols.websockets.websockets_sansio_impl import (
    WebSocketsSansIOProtocol,
)
from websockets.protocol import State

from apps.realtime import protocol
from apps.realtime.connection import Connection, origin_allowed
from apps.realtime.hub import get_hub


class _WebSocket(Connection):
    def __init__(self, consumer: "RealtimeConsumer") -> None:
        super().__init__(consumer.hub)
        self.consumer = consumer
        server = getattr(consumer.base_send, "__self__", None)
        self.server = (
            server
            if isinstance(server, WebSocketsSansIOProtocol)
            and not server.conn.extensions
            else None
        )

    def write_now(self, data: bytes) -> bool:
        """Under uvicorn (what `baas` runs), a frame goes straight to the socket while
        the connection is open and the socket has room, framed once however many
        subscribers get it (as Go's gorilla/websocket PreparedMessage). The same checks
        as uvicorn's own `send`; anything else takes the ASGI path."""
        server = self.server
        if (
            server is None
            or server.close_sent
            or server.disconnected
            or server.initial_response is not None
            or not server.writable.is_set()
            or server.conn.state is not State.OPEN
        ):
            return False
        server.transport.write(_framed(data))
        return True

    async def write(self, data: bytes) -> None:
        await self.consumer.base_send({"type": "websocket.send", "text": data.decode()})

    async def close_transport(self, code: int, reason: str) -> None:
        await self.consumer.base_send(
            {"type": "websocket.close", "code": code, "reason": reason}
        )


class RealtimeConsumer(AsyncWebsocketConsumer):
    channel_layer_alias = "__none__"  # no channel layer: see the module docstring

    async def connect(self) -> None:
        headers = dict(self.scope.get("headers") or [])
        origin = headers.get(b"origin", b"").decode("latin-1")
        host = headers.get(b"host", b"").decode("latin-1")
        if not origin_allowed(origin, host):
            await self.close()  # before accepting: the handshake gets a 403
            return
        self.hub = get_hub()
        if self.hub.stopping:
            await self.close()  # shutting down: the handshake gets a 403 at once
            return
        await self.hub.start()
        await self.accept()
        self.conn = _WebSocket(self)
        self.conn.open()

    async def receive(self, text_data=None, bytes_data=None) -> None:
        data = text_data if text_data is not None else bytes_data
        if len(data) > settings.BAAS_REALTIME_MAX_FRAME:
            await self.conn.close(protocol.TOO_BIG, "frame too big")
            return
        await self.conn.receive(data)

    async def disconnect(self, code) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.gone()


_last_framed: tuple[bytes | None, bytes] = (None, b"")


def _framed(data: bytes) -> bytes:
    """`data` as one unmasked WebSocket text frame (RFC 6455 5.2: what a server sends
    without extensions); the fan-out hands every subscriber the same bytes object, so
    the last one framed is kept."""
    global _last_framed
    if _last_framed[0] is data:
        return _last_framed[1]
    size = len(data)
    if size < 126:
        head = struct.pack("!BB", 0x81, size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x81, 126, size)
    else:
        head = struct.pack("!BBQ", 0x81, 127, size)
    _last_framed = (data, head + data)
    return _last_framed[1]
