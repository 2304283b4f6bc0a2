"""Console pages: users (search, view, disable and enable, delete, sessions, MFA state,
send a password reset email).

Every change goes through apps.accounts.admin, which checks, audits and ends sessions.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

from admin_ui.access import console_page
from apps.accounts import admin
from apps.accounts.models import User
from apps.core.exceptions import ApiError, InvalidInput

PAGE_SIZE = 25


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


@console_page
@require_GET
def users_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:254]
    users = User.objects.order_by("-created")
    if query:
        users = users.filter(email__icontains=query)
    page = Paginator(users, PAGE_SIZE).get_page(_page_number(request))
    ids = [u.pk for u in page.object_list]
    verified, mfa = admin.verified_emails(ids), admin.mfa_types(ids)
    rows = [
        {"user": u, "verified": u.pk in verified, "mfa": mfa.get(u.pk, [])}
        for u in page.object_list
    ]
    context = {"rows": rows, "page": page, "query": query}
    if request.htmx and request.htmx.target == "users-results":
        return render(request, "admin_ui/users/_results.html", context)
    return render(request, "admin_ui/users/list.html", context)


def _detail(request: HttpRequest, user_id: str, *, error=None, status=200):
    user = admin.user_get(actor=request.user, user_id=user_id)
    context = {
        "subject": user,
        "verified": user.pk in admin.verified_emails([user.pk]),
        "sessions": admin.user_sessions(actor=request.user, user_id=user.pk),
        "mfa": admin.user_mfa(actor=request.user, user_id=user.pk),
        "is_self": str(user.pk) == str(request.user.pk),
        "reset_timeout": admin.reset_link_lifetime(),
        "error": error,
    }
    return render(request, "admin_ui/users/detail.html", context, status=status)


def _not_found(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return render(
        request, "admin_ui/users/missing.html", {"error": exc}, status=exc.status
    )


@console_page
@require_GET
def user_detail(request: HttpRequest, user_id: str) -> HttpResponse:
    try:
        return _detail(request, user_id)
    except ApiError as exc:
        return _not_found(request, exc)


def _change(request: HttpRequest, user_id: str, change, done: str) -> HttpResponse:
    """Run one service call; on success back to the page with a message, else the page
    again with the error in place and the error's status."""
    try:
        change()
    except ApiError as exc:
        try:
            return _detail(request, user_id, error=exc, status=exc.status)
        except ApiError as missing:
            return _not_found(request, missing)
    messages.success(request, done)
    return redirect("console:user", user_id=user_id)


def _bad_choice() -> None:
    raise InvalidInput("Choose to enable or disable the account.", param="active")


@console_page
@require_POST
def user_active(request: HttpRequest, user_id: str) -> HttpResponse:
    choice = request.POST.get("active")
    if choice not in ("0", "1"):
        return _change(request, user_id, _bad_choice, "")
    active = choice == "1"
    return _change(
        request,
        user_id,
        lambda: admin.user_set_active(
            actor=request.user, user_id=user_id, active=active, request=request
        ),
        "The account is enabled."
        if active
        else "The account is disabled and signed out everywhere.",
    )


@console_page
@require_POST
def user_delete(request: HttpRequest, user_id: str) -> HttpResponse:
    try:
        user = admin.user_get(actor=request.user, user_id=user_id)
        expected = user.email or user.pk
        if request.POST.get("confirm", "") != expected:
            raise ApiError(
                "Type the account's email address to confirm.", param="confirm"
            )
        admin.user_delete(actor=request.user, user_id=user_id, request=request)
    except ApiError as exc:
        try:
            return _detail(request, user_id, error=exc, status=exc.status)
        except ApiError as missing:
            return _not_found(request, missing)
    messages.success(request, f"The account {expected} was deleted.")
    return redirect("console:users")


@console_page
@require_POST
def user_session_end(request: HttpRequest, user_id: str, session_id: int):
    return _change(
        request,
        user_id,
        lambda: admin.user_end_session(
            actor=request.user,
            user_id=user_id,
            session_id=session_id,
            request=request,
        ),
        "The session was ended.",
    )


@console_page
@require_POST
def user_password_reset(request: HttpRequest, user_id: str) -> HttpResponse:
    return _change(
        request,
        user_id,
        lambda: admin.send_password_reset(
            actor=request.user, user_id=user_id, request=request
        ),
        "A password reset email is on its way to the account's address.",
    )


urlpatterns = [
    path("users/", users_list, name="users"),
    path("users/<str:user_id>/", user_detail, name="user"),
    path("users/<str:user_id>/active/", user_active, name="user-active"),
    path("users/<str:user_id>/delete/", user_delete, name="user-delete"),
    path(
        "users/<str:user_id>/password-reset/",
        user_password_reset,
        name="user-password-reset",
    ),
    path(
        "users/<str:user_id>/sessions/<int:session_id>/end/",
        user_session_end,
        name="user-session-end",
    ),
]
