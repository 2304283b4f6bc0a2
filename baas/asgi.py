"""ASGI entry point: HTTP requests go to Django's WSGI handler on a thread pool (a2wsgi),
WebSockets to Channels (realtime).

Django's own ASGI handler runs sync views one at a time per process
(`thread_sensitive`), several times slower than WSGI (notes/ecosystem.md §3); every REST
view here is sync, so HTTP takes the WSGI path even under an ASGI server.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baas.settings")

from a2wsgi import WSGIMiddleware  # noqa: E402
from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

HTTP_THREADS = int(os.environ.get("BAAS_HTTP_THREADS", "8"))

application = ProtocolTypeRouter(
    {"http": WSGIMiddleware(get_wsgi_application(), workers=HTTP_THREADS)}
)
