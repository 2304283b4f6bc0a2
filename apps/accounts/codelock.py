"""One code check (or password change) at a time per pending flow, across threads and
processes.

allauth keeps a mailed code (password reset, login by code, email verification) and its
failed-attempt counter in the flow's session, which a request reads when it starts and
saves when it ends: parallel guesses would each read the old counter (and each accept one
valid code). So the endpoints that check a code run in a transaction that first locks the
flow's session row (SELECT ... FOR UPDATE; on SQLite the transaction is the database's
single writer) and ends after the session is saved: the next request for the same flow
reads the session only once the previous one has written its verdict.

Placed before Django's SessionMiddleware, so the browser client's cookie session is both
read and saved inside the transaction too.
"""

from __future__ import annotations

import functools

from allauth.headless import app_settings as headless_settings
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import transaction
from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse

#: allauth's code-checking routes (their URL names, in either client's namespace)
CODE_ROUTES = ("confirm_login_code", "verify_email", "reset_password")
CLIENTS = ("app", "browser")
MAX_SESSION_KEY = 40  # django_session.session_key


#: our own `app`-client routes that rewrite the device session's password hash: a
#: request of the same device running beside one would read the old hash, sign the
#: device out and delete the session the first one is about to save
SESSION_REWRITING_ROUTES = ("auth-guest-upgrade", "account-password-change")


@functools.cache
def code_paths() -> dict[str, str]:
    """Path of each endpoint served one at a time per session -> its client, from the
    URL map itself."""
    paths = {
        reverse(f"headless:{client}:account:{name}"): client
        for client in CLIENTS
        for name in CODE_ROUTES
    }
    paths.update({reverse(name): "app" for name in SESSION_REWRITING_ROUTES})
    return paths


def flow_session_key(request: HttpRequest, client: str) -> str | None:
    """The key of the session holding the request's pending flow, if it names one."""
    if client == "app":
        # X-Session-Token, or the session of the access token (a signed-in user's flow)
        key = headless_settings.TOKEN_STRATEGY.get_session_token(request)
    else:
        key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if isinstance(key, str) and 0 < len(key) <= MAX_SESSION_KEY and key.isalnum():
        return key
    return None  # no session to lock: allauth answers that nothing is pending


def lock_session(session_key: str) -> None:
    """Hold the session's row until the transaction ends (PostgreSQL; SQLite serialises
    every write transaction already)."""
    list(
        Session.objects.select_for_update()
        .filter(session_key=session_key)
        .values_list("session_key", flat=True)
    )


class CodeAttemptLockMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        client = code_paths().get(request.path_info)
        if client is None:
            return self.get_response(request)
        session_key = flow_session_key(request, client)
        with transaction.atomic():
            if session_key is not None:
                lock_session(session_key)
            response = self.get_response(request)
            if response.status_code >= 500:
                transaction.set_rollback(True)  # nothing half-written
        return response
