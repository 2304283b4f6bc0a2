"""CORS for browser apps: django-cors-headers, first in settings.MIDDLEWARE.

First, so that its headers reach every answer under /api/, those of the record-routes
middleware and error answers (401, 404, 413, 429) included: a browser app can read an
error only if it carries them. A request without `Origin` (servers, mobile apps, a
browser's same-origin GET) costs one dict lookup here and nothing else.
"""

from __future__ import annotations

from corsheaders.middleware import CorsMiddleware as LibraryCorsMiddleware


class CorsMiddleware(LibraryCorsMiddleware):
    """django-cors-headers, skipped outright when the request has no Origin."""

    sync_capable = True
    async_capable = False

    def __call__(self, request):
        if "HTTP_ORIGIN" not in request.META:
            return self.get_response(request)
        return super().__call__(request)
