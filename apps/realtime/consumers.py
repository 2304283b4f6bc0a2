"""The WebSocket transport of `/api/v1/realtime` (a Channels consumer, without a channel
layer: events come from this process's hub, apps.realtime.hub)."""

from __future__ import annotations

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from apps.realtime import protocol
from apps.realtime.connection import Connection, origin_allowed
from apps.realtime.hub import get_hub


class _WebSocket(Connection):
    def __init__(self, consumer: "RealtimeConsumer") -> None:
        super().__init__(consumer.hub)
        self.consumer = consumer

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
