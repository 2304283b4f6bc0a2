"""CORS for browser apps: django-cors-headers, first in settings.MIDDLEWARE.

First, so that its headers reach every answer under /api/, those of the record-routes
middleware and error answers (401, 404, 413, 429) included: a browser app can read an
error only if it carries them. A request without `Origin` (servers, mobile apps, a
browser's same-origin GET) costs one dict lookup here and nothing else.
"""

from __future__ import annotations

from corsheaders.middleware import CorsMiddleware as LibraryCorsMiddleware


class CorsMiddleware(LibraryCorsMiddleware):
    """django-cors-headers, skipped when the request has no Origin; the answer still says
    `Vary: Origin` (under /api/), so that a shared cache that stored it for a request
    without Origin does not hand that copy, without CORS headers, to a browser app."""

    sync_capable = True
    async_capable = False

    def __call__(self, request):
        if "HTTP_ORIGIN" in request.META:
            return super().__call__(request)
        response = self.get_response(request)
        if request.path_info.startswith("/api/"):
            vary = response.headers.get("Vary")
            if not vary:
                response.headers["Vary"] = "Origin"
            elif "origin" not in vary.lower():
                response.headers["Vary"] = vary + ", Origin"
        return response
