"""Request-level guards that must run before any view reads the body."""

from __future__ import annotations

import orjson
from django.conf import settings

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


ERROR_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
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
