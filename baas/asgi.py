"""ASGI entry point: realtime (WebSocket at /api/v1/realtime, server-sent events at
/api/v1/realtime/sse) for `baas realtime` and `baas serve`; every other HTTP request goes
to Django's WSGI handler on a thread pool (a2wsgi).

`baas serve` and the documented production deployment route only realtime paths here;
REST is served by WSGI workers (granian). Django's own ASGI handler runs sync views one at
a time per process (`thread_sensitive`), several times slower than WSGI
(notes/ecosystem.md §3), so HTTP takes the WSGI path even when this process gets it (the
single-process fallback of `baas serve`, when no haproxy is installed).
"""

import os

from baas import lifecycle

lifecycle.worker_started()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baas.settings")

from a2wsgi import WSGIMiddleware  # noqa: E402
from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

from baas.request_body import RequestBodyMiddleware  # noqa: E402

HTTP_THREADS = int(os.environ.get("BAAS_HTTP_THREADS", "8"))


class _CoroutineChannels:
    """a2wsgi schedules `receive()`/`send()` with run_coroutine_threadsafe, which needs
    coroutines; some servers (granian) hand out callables returning other awaitables."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        async def receive_coroutine():
            return await receive()

        async def send_coroutine(message):
            return await send(message)

        await self.app(scope, receive_coroutine, send_coroutine)


_wsgi = _CoroutineChannels(
    WSGIMiddleware(
        RequestBodyMiddleware(
            get_wsgi_application(),
            limit=settings.BAAS_MAX_BODY_SIZE,
            upload_limit=settings.BAAS_MAX_UPLOAD_SIZE,
            spool_dir=settings.FILE_UPLOAD_TEMP_DIR,
        ),
        workers=HTTP_THREADS,
    )
)

from apps.realtime.consumers import RealtimeConsumer  # noqa: E402
from apps.realtime.sse import sse_app  # noqa: E402


async def _http(scope, receive, send):
    if scope["path"].rstrip("/") == "/api/v1/realtime/sse":
        await sse_app(scope, receive, send)
    else:
        await _wsgi(scope, receive, send)


_realtime = RealtimeConsumer.as_asgi()


async def _websocket(scope, receive, send):
    if scope["path"].rstrip("/") == "/api/v1/realtime":
        await _realtime(scope, receive, send)
    else:  # refuse the handshake (403)
        await receive()
        await send({"type": "websocket.close", "code": 1008})


application = ProtocolTypeRouter({"http": _http, "websocket": _websocket})
lifecycle.application_loaded()
