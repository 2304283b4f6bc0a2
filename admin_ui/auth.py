"""Console sign-in: email and password, then the second factor when the superuser has
one (an authenticator app code or a passkey), through allauth's own checks and rate
limits. Only then does the session carry the console mark (admin_ui.access)."""

from __future__ import annotations

import orjson
from allauth.account.adapter import get_adapter
from allauth.core.internal import ratelimit
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from allauth.mfa.webauthn.internal import auth as webauthn
from django.contrib.auth import get_user_model, login, logout
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from admin_ui.access import CONSOLE_SESSION_KEY, is_console_user
from apps.accounts.mfa import MFA_REQUIRED_MESSAGE, lacks_required_mfa
from apps.core.csp import content_security_policy

PENDING_KEY = "baas_console_pending"  # the user id between password and second factor
BACKEND = "allauth.account.auth_backends.AuthenticationBackend"
REFUSED = "These credentials cannot open the console."


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/console/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}
    ):
        return target
    return "/console/"


def _factors(user) -> set[str]:
    return set(
        Authenticator.objects.filter(
            user_id=user.pk,
            type__in=(Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN),
        ).values_list("type", flat=True)
    )


def _complete(request: HttpRequest, user) -> HttpResponse:
    target = _next(request)
    request.session.pop(PENDING_KEY, None)
    login(request, user, backend=BACKEND)  # a new session key: no fixation
    request.session[CONSOLE_SESSION_KEY] = str(user.pk)
    return redirect(target)


def _pending_user(request: HttpRequest):
    user_id = request.session.get(PENDING_KEY)
    if not user_id:
        return None
    return get_user_model().objects.filter(pk=user_id, is_active=True).first()


@never_cache
@content_security_policy
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.method == "GET" and is_console_user(request):
        return redirect(_next(request))
    context = {"next": _next(request), "email": ""}
    if request.method == "GET":
        return render(request, "admin_ui/auth/login.html", context)
    email = (request.POST.get("email") or "").strip().lower()
    password = request.POST.get("password") or ""
    context["email"] = email
    if not ratelimit.consume(request, app="allauth.account", action="login"):
        context["error"] = "Too many sign-in attempts. Wait a minute and try again."
        return render(request, "admin_ui/auth/login.html", context, status=429)
    try:
        user = get_adapter(request).authenticate(
            request, email=email, password=password
        )
    except ValidationError:  # allauth's login_failed limit
        context["error"] = "Too many failed sign-in attempts. Wait and try again."
        return render(request, "admin_ui/auth/login.html", context, status=429)
    if user is None or not user.is_active or not user.is_superuser:
        context["error"] = REFUSED
        return render(request, "admin_ui/auth/login.html", context, status=400)
    factors = _factors(user)
    if not factors:
        if lacks_required_mfa(user):
            context["error"] = MFA_REQUIRED_MESSAGE
            return render(request, "admin_ui/auth/login.html", context, status=403)
        return _complete(request, user)
    request.session.cycle_key()
    request.session[PENDING_KEY] = str(user.pk)
    return redirect(f"/console/login/mfa/?next={context['next']}")


@never_cache
@content_security_policy
@require_http_methods(["GET", "POST"])
def mfa_view(request: HttpRequest) -> HttpResponse:
    user = _pending_user(request)
    if user is None:
        return redirect("/console/login/")
    factors = _factors(user)
    context = {
        "next": _next(request),
        "totp": Authenticator.Type.TOTP in factors,
        "passkey": Authenticator.Type.WEBAUTHN in factors,
    }
    if request.method == "GET":
        return render(request, "admin_ui/auth/mfa.html", context)
    if not ratelimit.consume(
        request, app="allauth.account", action="login_failed", key=str(user.pk)
    ):
        context["error"] = "Too many attempts. Wait a few minutes and try again."
        return render(request, "admin_ui/auth/mfa.html", context, status=429)
    code = (request.POST.get("code") or "").replace(" ", "")
    authenticator = Authenticator.objects.filter(
        user_id=user.pk, type=Authenticator.Type.TOTP
    ).first()
    if authenticator is None or not TOTP(authenticator).validate_code(code):
        context["error"] = "That code is not valid. Enter the current one."
        return render(request, "admin_ui/auth/mfa.html", context, status=400)
    authenticator.record_usage()
    return _complete(request, user)


@never_cache
@content_security_policy
@require_http_methods(["GET", "POST"])
def passkey_view(request: HttpRequest) -> HttpResponse:
    """GET: the WebAuthn request options for the pending user's passkeys; POST: the
    browser's assertion, checked by allauth.mfa (admin_ui/static/.../login.js)."""
    user = _pending_user(request)
    if user is None:
        return JsonResponse({"error": "Sign in with your password first."}, status=400)
    if request.method == "GET":
        return JsonResponse(webauthn.begin_authentication(user))
    if not ratelimit.consume(
        request, app="allauth.account", action="login_failed", key=str(user.pk)
    ):
        return JsonResponse({"error": "Too many attempts."}, status=429)
    try:
        credential = orjson.loads(request.body)
        authenticator = webauthn.complete_authentication(user, credential)
    except Exception:  # a malformed or foreign assertion: never a 500
        return JsonResponse({"error": "That passkey was not accepted."}, status=400)
    authenticator.record_usage()
    response = _complete(request, user)
    return JsonResponse({"location": response["Location"]})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("/console/login/")
