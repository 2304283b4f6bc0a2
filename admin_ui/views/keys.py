"""Console pages: API keys (list, create with the secret shown once, revoke), through
apps.accounts.apikeys as the API's /apikeys endpoints do."""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_POST

from admin_ui.access import console_page
from apps.accounts.apikeys import SCOPES, apikey_create, apikey_revoke
from apps.accounts.models import ApiKey
from apps.core.exceptions import ApiError, InvalidInput, NotFound

SCOPE_HINTS = {
    "records:read": "Read records of every collection",
    "records:write": "Create, change and delete records",
    "schema": "Define collections, rules and indexes",
    "push:send": "Send push notifications",
    "jobs": "See and retry background jobs",
    "webhooks": "Manage webhooks",
}


def _expiry(value: str) -> datetime | None:
    """The form's `datetime-local` value, read as UTC; empty: never expires."""
    value = value.strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            "Enter a date and time, e.g. 2030-01-31 12:00.", param="expires_at"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed <= timezone.now():
        raise InvalidInput("The expiry must be in the future.", param="expires_at")
    return parsed


def _page(request: HttpRequest, *, status: int = 200, **extra) -> HttpResponse:
    now = timezone.now()
    keys = [
        {
            "key": key,
            "expired": key.expires_at is not None and key.expires_at <= now,
        }
        for key in ApiKey.objects.order_by("-created")
    ]
    context = {
        "keys": keys,
        "scopes": [(scope, SCOPE_HINTS.get(scope, "")) for scope in sorted(SCOPES)],
        "form": {"name": "", "scopes": [], "expires_at": ""},
        "errors": {},
        **extra,
    }
    return render(request, "admin_ui/keys/list.html", context, status=status)


@console_page
def keys_list(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _page(request)
    form = {
        "name": request.POST.get("name", ""),
        "scopes": request.POST.getlist("scopes"),
        "expires_at": request.POST.get("expires_at", ""),
    }
    try:
        key, plaintext = apikey_create(
            name=form["name"],
            scopes=form["scopes"],
            expires_at=_expiry(form["expires_at"]),
            actor=request.user,
            request=request,
        )
    except ApiError as exc:
        errors = {}
        for item in exc.errors:
            errors.setdefault(item.param or "form", []).append(item.message)
        return _page(request, status=exc.status, form=form, errors=errors)
    # The secret is in this answer only (never stored, never in a redirect).
    return _page(request, status=201, created=key, plaintext=plaintext)


@console_page
@require_POST
def key_revoke(request: HttpRequest, key_id: str) -> HttpResponse:
    try:
        key = ApiKey.objects.filter(pk=key_id).first()
        if key is None:
            raise NotFound("No such API key.")
        apikey_revoke(key_id=key.pk, actor=request.user, request=request)
    except ApiError as exc:
        return _page(request, status=exc.status, errors={"form": [str(exc)]})
    messages.success(request, f"The key {key.name} was revoked.")
    return redirect("console:keys")


urlpatterns = [
    path("keys/", keys_list, name="keys"),
    path("keys/<str:key_id>/revoke/", key_revoke, name="key-revoke"),
]
