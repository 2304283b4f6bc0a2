"""The single place where exceptions become the API error envelope (API.md)."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

from apps.core.exceptions import ApiError, ErrorItem
from apps.core.renderers import dumps

logger = logging.getLogger("baas.errors")

DRF_CODES = {
    drf.ParseError: "malformed_body",
    drf.AuthenticationFailed: "invalid_credentials",
    drf.NotAuthenticated: "not_authenticated",
    drf.PermissionDenied: "forbidden",
    drf.NotFound: "not_found",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.NotAcceptable: "not_acceptable",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.Throttled: "rate_limited",
}


def envelope(status: int, errors: list[ErrorItem]) -> dict:
    return {"status": status, "errors": [e.as_dict() for e in errors]}


def _flatten_validation(detail, param: str | None = None) -> list[ErrorItem]:
    """Turn DRF's nested ValidationError detail into flat items with dotted params."""
    if isinstance(detail, dict):
        items: list[ErrorItem] = []
        for key, value in detail.items():
            name = None if key == "non_field_errors" else str(key)
            child = f"{param}.{name}" if param and name else (name or param)
            items.extend(_flatten_validation(value, child))
        return items
    if isinstance(detail, list):
        items = []
        for index, value in enumerate(detail):
            child = param
            if isinstance(value, (dict, list)) and param is not None:
                child = f"{param}.{index}"
            items.extend(_flatten_validation(value, child))
        return items
    code = getattr(detail, "code", None) or "invalid"
    return [ErrorItem(str(code), str(detail), param)]


def error_items_for(
    exc: Exception,
) -> tuple[int, list[ErrorItem], dict[str, str]] | None:
    """Map any known exception to (status, items, headers); None means unknown (a bug)."""
    if isinstance(exc, ApiError):
        return exc.status, exc.errors, exc.headers
    if isinstance(exc, drf.ValidationError):
        return 400, _flatten_validation(exc.detail), {}
    if isinstance(exc, drf.APIException):
        headers = {}
        if isinstance(exc, drf.Throttled) and exc.wait is not None:
            headers["Retry-After"] = str(int(exc.wait) + 1)
        code = DRF_CODES.get(type(exc), getattr(exc, "default_code", "error"))
        message = exc.detail if isinstance(exc.detail, str) else str(exc.default_detail)
        return exc.status_code, [ErrorItem(code, str(message))], headers
    if isinstance(exc, Http404):
        return 404, [ErrorItem("not_found", "Not found.")], {}
    if isinstance(exc, DjangoPermissionDenied):
        return 403, [ErrorItem("forbidden", "You are not allowed to do this.")], {}
    if isinstance(exc, RequestDataTooBig):
        return 413, [ErrorItem("too_large", "The request body is too large.")], {}
    if isinstance(exc, SuspiciousOperation):
        return 400, [ErrorItem("bad_request", "The request was rejected.")], {}
    if isinstance(exc, UnicodeDecodeError):
        return 400, [ErrorItem("malformed_body", "The request is not valid UTF-8.")], {}
    return None


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF exception handler: every error leaves in the envelope."""
    mapped = error_items_for(exc)
    if mapped is None:
        if isinstance(exc, DatabaseError):
            logger.exception("database error")
        else:
            logger.exception("unhandled error")
        mapped = 500, [ErrorItem("server_error", "Internal server error.")], {}
    status, items, headers = mapped
    response = Response(envelope(status, items), status=status, headers=headers)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def json_error(
    status: int, code: str, message: str, param: str | None = None
) -> HttpResponse:
    return HttpResponse(
        dumps(envelope(status, [ErrorItem(code, message, param)])),
        status=status,
        content_type="application/json",
    )


def handler400(request: HttpRequest, exception=None) -> HttpResponse:
    return json_error(400, "bad_request", "Bad request.")


def handler403(request: HttpRequest, exception=None) -> HttpResponse:
    return json_error(403, "forbidden", "You are not allowed to do this.")


def handler404(request: HttpRequest, exception=None) -> HttpResponse:
    return json_error(404, "not_found", "Not found.")


def handler500(request: HttpRequest) -> HttpResponse:
    return json_error(500, "server_error", "Internal server error.")
