"""Operational endpoints: liveness and readiness."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from apps.core.errors import json_error

SAFE_METHODS = ("GET", "HEAD")


def probe(view: Callable[[HttpRequest], HttpResponse]) -> Callable:
    """GET and HEAD only; any other method is 405 in the JSON envelope with `Allow`
    (not the HTML page of a CSRF refusal: a probe changes nothing, so needs no token)."""

    @csrf_exempt
    @wraps(view)
    def only_safe_methods(request: HttpRequest) -> HttpResponse:
        if request.method not in SAFE_METHODS:
            response = json_error(
                405, "method_not_allowed", f"{request.method} is not allowed here."
            )
            response["Allow"] = ", ".join(SAFE_METHODS)
            return response
        return view(request)

    return only_safe_methods


@probe
def healthz(request):
    """The process is alive and serving."""
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_cache() -> None:
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", 5)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return the value just stored")
    cache.delete(key)


def _check_broker() -> None:
    from baas.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, timeout=1
        )


CHECKS = {"database": _check_database, "cache": _check_cache, "broker": _check_broker}


@probe
def readyz(request):
    """Every dependency answers; 503 with Retry-After otherwise."""
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # a probe reports, it never raises
            results[name] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in results.values())
    response = JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": results},
        status=200 if ready else 503,
    )
    if not ready:
        response["Retry-After"] = "5"
    return response
