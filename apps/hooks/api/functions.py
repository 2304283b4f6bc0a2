"""`/api/v1/fn/<path>`: the routes hooks modules register with `@route`.

One DRF view serves them all, so they get what every endpoint gets: bearer and API-key
authentication, the error envelope (a `Reject` or any ApiError), Idempotency-Key replay
(apps.core.idempotency, for every mutating request under /api/), and, with `rate=`,
a limit per client through allauth's rate limiter (429 with Retry-After).
"""

from __future__ import annotations

import math
import time
from functools import lru_cache

from allauth.core.internal import ratelimit
from django.core.cache import cache
from django.http import HttpResponseBase
from django.urls import path as url_path
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.apikeys import KeyPrincipal
from apps.accounts.mfa import MFA_REQUIRED_MESSAGE, lacks_required_mfa
from apps.accounts.permissions import has_scope, is_superuser
from apps.core.exceptions import (
    ApiError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from apps.hooks import registry as hook_registry
from apps.hooks.schema import is_serializer

RATE_APP = "baas.fn"


class MethodNotAllowed(ApiError):
    status = 405
    code = "method_not_allowed"


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"


@lru_cache(maxsize=8)
def _patterns(routes: tuple) -> list:
    """Django URL patterns for the registered routes (built once per registry state)."""
    return [(url_path(r.path.lstrip("/"), lambda: None), r) for r in routes]


def match(method: str, subpath: str):
    """(route, path parameters) for a request; 404 or 405 in the envelope otherwise."""
    allowed = []
    for pattern, route in _patterns(tuple(hook_registry.registry.routes)):
        found = pattern.resolve(subpath)
        if found is None:
            continue
        if route.method == method:
            return route, found.kwargs
        allowed.append(route.method)
    if allowed:
        raise MethodNotAllowed(
            f"{method} is not served here.",
            headers={"Allow": ", ".join(sorted(set(allowed)))},
        )
    raise NotFound("No function is served at this path.", code="not_found")


def check_auth(route, user) -> None:
    """401 for a caller who must sign in, 403 for one without the right."""
    if route.auth == "public":
        return
    if user is None or not getattr(user, "is_authenticated", False):
        raise Unauthenticated("Sign in to call this function.")
    if route.auth == "user":
        if isinstance(user, KeyPrincipal):
            raise Forbidden("This function is for signed-in users, not API keys.")
        return
    if route.auth == "superuser":
        if not isinstance(user, KeyPrincipal) and is_superuser(user):
            return
    elif has_scope(user, route.auth.removeprefix("key:")):
        return
    if not isinstance(user, KeyPrincipal) and lacks_required_mfa(user):
        raise Forbidden(MFA_REQUIRED_MESSAGE, code="mfa_required")
    raise Forbidden("You may not call this function.")


def check_rate(route, request) -> None:
    if not route.rate:
        return
    config = {route.name: route.rate}
    user = request.user if getattr(request.user, "is_authenticated", False) else None
    if isinstance(user, KeyPrincipal):
        user = None  # keys have no per-user bucket: counted per address
    usage = ratelimit.consume(
        request,
        app=RATE_APP,
        action=route.name,
        config=config,
        user=user,
        limit_get=True,
    )
    if usage is None:
        raise RateLimited(
            "Too many calls; try again later.",
            headers={"Retry-After": str(_retry_after(request, route, user))},
        )


def _retry_after(request, route, user) -> int:
    now, waits = time.time(), []
    for rate in ratelimit.parse_rates(route.rate):
        try:
            key = ratelimit.get_cache_key(
                request,
                app=RATE_APP,
                action=route.name,
                rate=rate,
                user=user if rate.per == "user" else None,
            )
        except Exception:  # no bucket to look at: the window is an upper bound
            waits.append(rate.duration)
            continue
        history = [t for t in cache.get(key, []) if t > now - rate.duration]
        if len(history) >= rate.amount:
            waits.append(history[rate.amount - 1] + rate.duration - now)
    return max(1, math.ceil(max(waits, default=60)))


@extend_schema(exclude=True)  # each route is described by apps.hooks.api.openapi
class FunctionView(APIView):
    """Every `@route`: matched by method and path, then authenticated and called."""

    permission_classes: list = []  # each route's `auth` decides (check_auth)

    def _serve(self, request: Request, subpath: str = "", **kwargs):
        route, params = match(request.method, subpath)
        check_auth(route, request.user)
        check_rate(route, request)
        if is_serializer(route.request):
            serializer = route.request(data=request.data)
            if not serializer.is_valid():
                raise _invalid(serializer.errors)
            request.validated_data = serializer.validated_data
        result = route.func(request, **params)
        if isinstance(result, HttpResponseBase):
            return result
        if result is None:
            return Response(status=204)
        if is_serializer(route.response):
            result = route.response(result).data
        return Response(result)

    get = post = put = patch = delete = _serve

    @property
    def default_response_headers(self) -> dict:
        headers = super().default_response_headers
        headers.pop("Allow", None)  # this view's methods are not the route's: see match
        return headers


def _invalid(errors) -> InvalidInput:
    """A serializer's first error as the envelope's item (param: the field)."""
    if isinstance(errors, dict) and errors:
        name, messages = next(iter(errors.items()))
        message = messages[0] if isinstance(messages, list) and messages else messages
        if isinstance(message, dict):  # a nested serializer: its first field
            return _invalid(message)
        param = None if name == "non_field_errors" else name
        return InvalidInput(str(message), param=param)
    return InvalidInput("The request body is not valid.")
