"""Who may open the console, and the decorator every console view wears.

The console is for superusers only, signed in through its own login (admin_ui.auth): the
session carries CONSOLE_SESSION_KEY, set only once the password and, when the superuser
has one, the second factor were checked. A session opened elsewhere (allauth's browser
client, say) does not open the console, and app users' credentials never do. With
BAAS_REQUIRE_SUPERUSER_MFA on, a superuser without a second factor is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from apps.accounts.mfa import superuser_privileged
from apps.core.csp import set_policy

CONSOLE_SESSION_KEY = "baas_console"


def is_console_user(request: HttpRequest) -> bool:
    user = request.user
    return (
        user.is_authenticated
        and request.session.get(CONSOLE_SESSION_KEY) == str(user.pk)
        and superuser_privileged(user)
    )


def console_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A console view: superusers signed in to the console only, never cached, under
    the console's Content-Security-Policy. Others are sent to the login page (a GET) or
    refused with 403 (any other method, and htmx requests, which cannot follow)."""

    @wraps(view)
    @never_cache
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not is_console_user(request):
            if request.method == "GET" and not request.headers.get("HX-Request"):
                query = urlencode({"next": request.get_full_path()})
                return set_policy(redirect(f"/console/login/?{query}"))
            response = render(request, "admin_ui/auth/refused.html", status=403)
            return set_policy(response)
        return set_policy(view(request, *args, **kwargs))

    return wrapped
