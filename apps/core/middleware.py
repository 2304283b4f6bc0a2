"""Request-level guards that must run before any view reads the body."""

from __future__ import annotations

from django.conf import settings

from apps.core.errors import json_error


class BodySizeLimitMiddleware:
    """Refuse declared oversize bodies with 413 before reading them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        length = request.META.get("CONTENT_LENGTH")
        if length:
            try:
                size = int(length)
            except ValueError:
                return json_error(400, "bad_request", "Invalid Content-Length.")
            if size > settings.BAAS_MAX_BODY_SIZE:
                return json_error(413, "too_large", "The request body is too large.")
        return self.get_response(request)
