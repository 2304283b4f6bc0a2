"""In-process realtime for tests: the ASGI realtime app on an event loop in a thread,
driven from sync test code (REST writes go through the test client as usual)."""

from __future__ import annotations

import asyncio
import threading

import orjson
from asgiref.testing import ApplicationCommunicator

from apps.realtime import hub as hub_module


class Loop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        hub = hub_module._hub
        if hub is not None and hub.loop is self.loop:
            self.run(hub.stop())
        hub_module._hub = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class WebsocketCommunicator(ApplicationCommunicator):
    """channels.testing's, without its import of daphne."""

    def __init__(self, application, path: str, headers=None) -> None:
        super().__init__(
            application,
            {
                "type": "websocket",
                "path": path,
                "query_string": b"",
                "headers": headers or [],
                "subprotocols": [],
            },
        )

    async def connect(self, timeout: float = 5):
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        if response["type"] == "websocket.close":
            return False, response.get("code", 1000)
        return True, None

    async def send_to(self, text_data: str) -> None:
        await self.send_input({"type": "websocket.receive", "text": text_data})

    async def disconnect(self, code: int = 1000, timeout: float = 1) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)


class Socket:
    """One WebSocket client of /api/v1/realtime."""

    def __init__(self, loop: Loop, headers=None) -> None:
        from baas.asgi import _websocket

        self.loop = loop
        self.ws = WebsocketCommunicator(_websocket, "/api/v1/realtime", headers=headers)
        self.connected, self.close_code = self.loop.run(self.ws.connect())

    def send(self, **frame) -> None:
        self.loop.run(self.ws.send_to(text_data=orjson.dumps(frame).decode()))

    def receive(self, timeout: float = 5.0) -> dict:
        message = self.loop.run(self.ws.receive_output(timeout), timeout + 1)
        if message["type"] == "websocket.close":
            return {"type": "_closed", "code": message.get("code")}
        return orjson.loads(message["text"])

    def nothing(self, timeout: float = 0.5) -> bool:
        return self.loop.run(self.ws.receive_nothing(timeout), timeout + 1)

    def auth(self, token: str) -> dict:
        self.send(type="auth", token=token)
        return self.receive()

    def subscribe(self, sub_id: str = "s1", topic: str = "posts", **extra) -> dict:
        self.send(type="subscribe", id=sub_id, topic=topic, **extra)
        return self.receive()

    def events(self, count: int, timeout: float = 5.0) -> list[dict]:
        return [self.receive(timeout) for _ in range(count)]

    def close(self) -> None:
        self.loop.run(self.ws.disconnect())


class Stream:
    """One server-sent-events request of /api/v1/realtime/sse."""

    def __init__(self, loop: Loop, query: str, headers=None) -> None:
        from baas.asgi import _http

        self.loop = loop
        self.app = ApplicationCommunicator(
            _http,
            {
                "type": "http",
                "method": "GET",
                "path": "/api/v1/realtime/sse",
                "query_string": query.encode(),
                "headers": headers or [],
            },
        )
        self.loop.run(self.app.send_input({"type": "http.request", "body": b""}))
        start = self.loop.run(self.app.receive_output(5), 6)
        self.status = start["status"]
        self.headers = dict(start["headers"])
        self.buffer = b""

    def body(self) -> dict:
        """The whole answer of a request that was refused."""
        message = self.loop.run(self.app.receive_output(5), 6)
        return orjson.loads(message["body"])

    def event(self, timeout: float = 5.0) -> dict[str, str]:
        """The next event's fields (`id`, `data`); comments are skipped."""
        while b"\n\n" not in self.buffer:
            message = self.loop.run(self.app.receive_output(timeout), timeout + 1)
            self.buffer += message.get("body", b"")
        raw, self.buffer = self.buffer.split(b"\n\n", 1)
        fields = {}
        for line in raw.decode().split("\n"):
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        if not fields:
            return self.event(timeout)
        return fields

    def close(self) -> None:
        self.loop.run(self.app.send_input({"type": "http.disconnect"}))
        try:
            self.loop.run(self.app.wait(2), 3)
        except Exception:
            pass
