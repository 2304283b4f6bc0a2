"""Auth rate limits answer 429 `rate_limited` with an honest `Retry-After` (API.md).

allauth does the limiting (ACCOUNT_RATE_LIMITS, buckets in Django's cache, per IP and per
account "key"), but its answers are not what the API promises: a full bucket answers 429
without `Retry-After`, and a full failed-login bucket (or a full login-code bucket) answers
400 `too_many_login_attempts`. This middleware turns both into 429 in the error envelope
and computes `Retry-After` from the same buckets: for every rate of the endpoint's actions
it reads the bucket's hit history (allauth keeps it newest first) and, for each full
bucket, the time until its oldest counted hit leaves the window; the answer is the largest
such wait, rounded up. Where no full bucket can be identified (a bucket keyed by something
the request does not carry, such as the address of a pending verification), the answer is
the longest window of the endpoint's rates (of all auth rates for an endpoint not in
ENDPOINT_ACTIONS): an upper bound, never a guess that is too short.
"""

from __future__ import annotations

import math
import time

import orjson
from allauth.core.internal import ratelimit as allauth_ratelimit
from django.conf import settings
from django.core.cache import cache

from apps.core.errors import json_error
from apps.core.middleware import json_object

RATE_LIMITED = 429
LOGIN_LIMIT_CODES = frozenset({"too_many_login_attempts"})
API_PREFIXES = ("/api/v1/", "/api/browser/v1/")
FALLBACK_SECONDS = 60

# Endpoint (after the API prefix) -> the allauth actions it consumes, each with the kind
# of key its per-account bucket uses ("email": the body's email, lowercased).
ENDPOINT_ACTIONS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "auth/login": (
        ("login", None),
        ("login_failed", "email"),
        ("confirm_email", "email"),
    ),
    "auth/signup": (("signup", None), ("confirm_email", "email")),
    "auth/code/request": (("request_login_code", "email"),),
    "auth/email/verify/resend": (("confirm_email", None),),
    "auth/password/request": (("reset_password", "email"),),
    "auth/password/reset": (("reset_password_from_key", None),),
    "auth/reauthenticate": (("reauthenticate", None),),
    "account/password/change": (("change_password", None),),
    "account/email": (("manage_email", None),),
    "auth/guest": (("guest", None),),
    "account/export": (("account_export", None),),
    # allauth.mfa counts wrong second factors in the failed-login buckets.
    "auth/2fa/authenticate": (("login_failed", None),),
    "auth/2fa/reauthenticate": (("login_failed", None),),
}


def login_failed_key(email: str) -> str:
    """The per-account key of the failed-login bucket: the address, lowercased.

    allauth's default prefixes the site's domain, which without django.contrib.sites is
    the request's Host header: rotating Host would give every guess a fresh bucket.
    """
    return email.strip().lower()


def _body_email(request) -> str | None:
    try:
        data = orjson.loads(request.body or b"{}")
    except Exception:  # unreadable, too large, not JSON: no per-account key
        return None
    email = data.get("email") if isinstance(data, dict) else None
    return email if isinstance(email, str) and email else None


def _bucket_key(request, action: str, rate, key: str | None) -> str | None:
    user = getattr(request, "user", None)
    if rate.per == "key" and key is None:
        return None
    if rate.per == "user" and not (user and user.is_authenticated):
        return None
    try:
        return allauth_ratelimit.get_cache_key(
            request,
            app="allauth.account",
            action=action,
            rate=rate,
            key=key,
            user=user if rate.per == "user" else None,
        )
    except Exception:  # no client IP, unknown "per": this bucket cannot be found
        return None


def retry_after(request, endpoint: str | None) -> int:
    """Seconds until a retry of this request can pass every bucket it consumes."""
    actions = ENDPOINT_ACTIONS.get(endpoint or "", ())
    email = _body_email(request) if any(kind for _, kind in actions) else None
    now = time.time()
    longest = 0.0
    waits: list[float] = []
    for action, kind in actions:
        key = None
        if kind == "email" and email:
            key = login_failed_key(email) if action == "login_failed" else email.lower()
        for rate in allauth_ratelimit.get_rates(app="allauth.account", action=action):
            longest = max(longest, rate.duration)
            cache_key = _bucket_key(request, action, rate, key)
            if cache_key is None:
                continue
            history = [t for t in cache.get(cache_key, []) if t > now - rate.duration]
            if len(history) >= rate.amount:
                # Newest first: the amount-th newest hit is the one that must expire.
                waits.append(history[rate.amount - 1] + rate.duration - now)
    seconds = max(waits) if waits else (longest or _longest_window())
    return max(1, math.ceil(seconds))


def _longest_window() -> float:
    """An endpoint we have no map for: the longest window of any auth limit."""
    rates = [
        rate
        for action in settings.ACCOUNT_RATE_LIMITS or {}
        for rate in allauth_ratelimit.get_rates(app="allauth.account", action=action)
    ]
    return max((rate.duration for rate in rates), default=FALLBACK_SECONDS)


def _endpoint(path: str) -> str | None:
    for prefix in API_PREFIXES:
        if path.startswith(prefix):
            return path[len(prefix) :]
    return None


def _is_login_limit(response) -> bool:
    if response.status_code != 400:
        return False
    body = json_object(response)
    errors = body.get("errors") if body else None
    return isinstance(errors, list) and any(
        isinstance(e, dict) and e.get("code") in LOGIN_LIMIT_CODES for e in errors
    )


class RateLimitResponseMiddleware:
    """Auth endpoints' rate-limit answers -> 429 `rate_limited` with `Retry-After`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code not in (400, RATE_LIMITED):
            return response
        endpoint = _endpoint(request.path)
        if endpoint is None:
            return response
        if response.status_code == RATE_LIMITED:
            if "Retry-After" in response:
                return response
        elif not _is_login_limit(response):
            return response
        limited = json_error(
            RATE_LIMITED,
            "rate_limited",
            "Too many requests. Try again after the time in Retry-After.",
        )
        limited["Retry-After"] = str(retry_after(request, endpoint))
        if "Vary" in response:
            limited["Vary"] = response["Vary"]
        limited.cookies = response.cookies  # the browser client's session cookie
        return limited
