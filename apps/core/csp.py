"""Content-Security-Policy for the HTML pages the server renders (/console/, /api/docs).

Their scripts and styles are files of our own (Swagger UI from drf-spectacular-sidecar,
its start-up script from /api/docs?script): no inline code, no other origin. `data:`
images are Swagger UI's icons.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse

POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def set_policy(response: HttpResponse) -> HttpResponse:
    response.headers.setdefault("Content-Security-Policy", POLICY)
    return response


def content_security_policy(view: Callable[..., HttpResponse]) -> Callable:
    """A view whose responses carry POLICY."""

    @wraps(view)
    def with_policy(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return set_policy(view(request, *args, **kwargs))

    return with_policy
