"""The server's password reset page: where the link of an operator-sent reset email
(apps.accounts.admin.send_password_reset) leads, and where the account's owner chooses a
new password.

Django's PasswordResetConfirmView pattern with allauth's key format (`uidb36-token`): the
link's GET checks the key, moves it into the session and redirects to
/account/reset/set-password/, so the key never leaks in a Referer; that URL shows the
form and takes the POST (CSRF, allauth's `reset_password_from_key` rate limit, the new
password checked by allauth's adapter, as over the API). A new password ends every
session and refresh token of the account (the post_save signal in apps.accounts.signals),
and with it the key (Django's token hashes the password). The page never signs anyone
in. A bad, expired or used link answers 400 with a page that says so.
"""

from __future__ import annotations

import re

from allauth.account.adapter import get_adapter
from allauth.account.utils import url_str_to_user_pk
from allauth.core.internal import ratelimit
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from apps.accounts.models import User
from apps.core.csp import content_security_policy

SESSION_KEY = "_baas_password_reset_key"
# <user id, base 36 for integers>-<Django token: timestamp in base 36>-<hex digest>
KEY = re.compile(r"[0-9A-Za-z]{1,64}-[0-9a-z]{1,16}-[0-9a-f]{1,128}")
FORM_PATH_KEY = "set-password"
TEMPLATES = "accounts/reset/"


def _page(request: HttpRequest, name: str, context=None, status: int = 200):
    context = {"app_name": settings.BAAS_APP_NAME, **(context or {})}
    return render(request, TEMPLATES + name, context, status=status)


def user_for_key(key: str) -> User | None:
    """The active account with an address whose reset key this is, else None."""
    if not KEY.fullmatch(key or ""):  # (a NUL byte would reach PostgreSQL)
        return None
    uidb36, _, token = key.partition("-")
    try:
        pk = url_str_to_user_pk(uidb36)
    except (ValueError, TypeError, OverflowError, ValidationError):
        return None
    user = User.objects.filter(pk=pk, is_active=True).first()
    if user is None or not user.email:
        return None
    if not default_token_generator.check_token(user, token):
        return None
    return user


def _invalid(request: HttpRequest) -> HttpResponse:
    request.session.pop(SESSION_KEY, None)
    return _page(request, "invalid.html", status=400)


@content_security_policy
@never_cache
@sensitive_post_parameters("password1", "password2")
@csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
def reset_page(request: HttpRequest, key: str) -> HttpResponse:
    if key != FORM_PATH_KEY:
        if request.method == "POST" or user_for_key(key) is None:
            return _invalid(request)
        request.session[SESSION_KEY] = key
        return redirect(reverse("password-reset-page", kwargs={"key": FORM_PATH_KEY}))

    user = user_for_key(request.session.get(SESSION_KEY, ""))
    if user is None:
        return _invalid(request)
    context = {"email": user.email, "errors": {}}
    if request.method != "POST":
        return _page(request, "form.html", context)

    if not ratelimit.consume(
        request, app="allauth.account", action="reset_password_from_key"
    ):
        context["errors"]["form"] = [
            "Too many attempts from your network. Wait a minute and try again."
        ]
        return _page(request, "form.html", context, status=429)

    password = request.POST.get("password1", "")
    confirm = request.POST.get("password2", "")
    errors = context["errors"]
    if not password:
        errors["password1"] = ["Choose a new password."]
    else:
        try:
            get_adapter(request).clean_password(password, user=user)
        except ValidationError as exc:
            errors["password1"] = list(exc.messages)
    if not errors and password != confirm:
        errors["password2"] = ["The two passwords differ."]
    if errors:
        return _page(request, "form.html", context, status=400)

    user.set_password(password)
    user.save()  # ends every session and refresh token (apps.accounts.signals)
    request.session.pop(SESSION_KEY, None)
    return _page(request, "done.html", {"email": user.email})


urlpatterns = [path("<str:key>/", reset_page, name="password-reset-page")]
