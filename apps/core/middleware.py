"""Request-level guards that must run before any view reads the body."""

from __future__ import annotations

import orjson
import redis
from django.conf import settings
from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.exceptions import SessionInterrupted
from django.middleware.gzip import GZipMiddleware as DjangoGZipMiddleware

from apps.core.errors import json_error


def json_object(response) -> dict | None:
    """The JSON object a (non-streaming) response carries, if it carries one."""
    if getattr(response, "streaming", False):
        return None
    if not response.get("Content-Type", "").startswith("application/json"):
        return None
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def body_limit(content_type: str | None) -> int:
    """Multipart bodies (file uploads) may be larger than JSON ones."""
    if (content_type or "").lower().startswith("multipart/form-data"):
        return settings.BAAS_MAX_UPLOAD_SIZE
    return settings.BAAS_MAX_BODY_SIZE


class BodySizeLimitMiddleware:
    """Refuse declared oversize bodies with 413 before reading them; a chunked body that
    reached Django unread (not through baas/request_body.py) with 411, never as empty."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        length = request.META.get("CONTENT_LENGTH")
        if length:
            try:
                size = int(length)
            except ValueError:
                return json_error(400, "bad_request", "Invalid Content-Length.")
            if size > body_limit(request.META.get("CONTENT_TYPE")):
                return json_error(413, "too_large", "The request body is too large.")
        elif "HTTP_TRANSFER_ENCODING" in request.META:
            # Django would read the body as empty: a PATCH would answer 200 unchanged.
            return json_error(
                411,
                "length_required",
                "This server cannot read a body without Content-Length here; send one.",
            )
        return self.get_response(request)


ERROR_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    411: "length_required",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


class ErrorEnvelopeMiddleware:
    """Errors under /api/ that a component returned without a JSON body get the envelope.

    Our own views already answer in the envelope; this covers third-party views (allauth
    answers malformed JSON with an empty 400) and Django's own early refusals.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path.startswith("/api/")
            and not getattr(response, "streaming", False)
            and not self._has_envelope(response)
        ):
            status = response.status_code
            code = ERROR_CODES.get(status, "server_error" if status >= 500 else "error")
            message = (
                "Internal server error."
                if status >= 500
                else "The request was refused."
            )
            if status == 400:
                message = "The request is malformed or invalid."
            replacement = json_error(status, code, message)
            for header in ("Retry-After", "WWW-Authenticate", "Allow"):
                if header in response:
                    replacement[header] = response[header]
            return replacement
        return response

    def process_exception(self, request, exception):
        """Redis (cache, rate limits) down: 503 with Retry-After, as API.md promises for
        a dependency that is down, not a 500. A session that another request of the same
        device ended (signed out, replaced) while this one ran cannot be saved: 409."""
        if isinstance(exception, redis.ConnectionError | redis.TimeoutError):
            response = json_error(
                503, "unavailable", "A service the server needs is down; try again."
            )
            response["Retry-After"] = "5"
            return response
        if isinstance(exception, UpdateError | SessionInterrupted):
            return json_error(
                409,
                "session_changed",
                "Another request ended this session while this one ran; sign in again.",
            )
        return None

    @staticmethod
    def _has_envelope(response) -> bool:
        body = json_object(response)
        if body is None:
            return False
        errors = body.get("errors")
        if errors and isinstance(errors, list):
            return True
        # allauth's headless answers a pending step (verify the email, the second
        # factor, reauthenticate) with 401 and the flows to continue: keep it whole.
        # So is the TOTP set-up answer: 404 (no authenticator yet) with the new secret
        # in `meta`.
        return isinstance(body.get("status"), int) and (
            "data" in body or "meta" in body
        )


class GZipMiddleware(DjangoGZipMiddleware):
    """Django's, except for responses that say `compress = False` (files: ranges and
    lengths refer to the bytes as stored, and images do not shrink)."""

    def process_response(self, request, response):
        if getattr(response, "compress", True) is False:
            return response
        return super().process_response(request, response)
