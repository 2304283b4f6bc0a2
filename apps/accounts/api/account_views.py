"""DELETE /api/v1/account (the user deletes their own account) and
GET /api/v1/account/export (everything stored about them): allauth headless views for the
`app` client, so they authenticate, ask for reauthentication and answer as allauth does."""

from __future__ import annotations

from typing import Any

from allauth.account.internal.flows.reauthentication import (
    raise_if_reauthentication_required,
)
from allauth.core import ratelimit
from allauth.headless.base.views import AuthenticatedAPIView
from allauth.headless.constants import Client
from django.db import transaction
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.cache import add_never_cache_headers

from apps.accounts import export
from apps.accounts.apikeys import KeyPrincipal
from apps.accounts.models import User
from apps.accounts.permissions import is_superuser
from apps.accounts.sessions import end_user_sessions
from apps.core.errors import envelope
from apps.core.exceptions import ApiError, Conflict, ErrorItem, Forbidden
from apps.core.renderers import dumps

#: Deletes the account whatever the `users` delete rule says (deleting one's own
#: account is not the app team's to forbid), but, like a `records:write` key, never
#: a superuser's account reached through a cascade.
ACCOUNT_SERVICE = KeyPrincipal(
    key_id="", name="account deletion", scopes=frozenset({"records:write"})
)


def error_response(
    status: int, code: str, message: str, errors: list[ErrorItem] | None = None
) -> HttpResponse:
    """The API's error envelope, from a view that is not a DRF view."""
    response = HttpResponse(
        dumps(envelope(status, errors or [ErrorItem(code, message)])),
        status=status,
        content_type="application/json",
    )
    add_never_cache_headers(response)
    return response


def account_delete(*, user: User, request=None) -> None:
    """Delete the account with the records API's service for a `users` record, so the
    relation fields' cascade settings decide what happens to what it owns (a relation
    without cascade refuses with 409 and nothing is deleted); end every device session
    and leave the tombstone in the `users` change log, in one transaction. The audit
    entry (`account.delete`, apps.accounts.signals) names the user as the actor."""
    from apps.hooks import audit
    from apps.records.records import record_delete

    actor = ACCOUNT_SERVICE
    if user.is_superuser:
        if not is_superuser(user):
            raise Forbidden(
                "A superuser account can only be deleted with superuser privileges; "
                "set up two-factor authentication first where it is required.",
                code="forbidden",
            )
        actor = user
    with transaction.atomic(), audit.acting(user, request):
        if user.is_superuser:
            others = (
                User.objects.select_for_update()
                .filter(is_superuser=True, is_active=True)
                .exclude(pk=user.pk)
                .values_list("pk", flat=True)
            )
            if not list(others):
                raise Conflict(
                    "This is the last active superuser account; make another "
                    "superuser before deleting it.",
                    code="last_superuser",
                )
        end_user_sessions(user.pk)
        record_delete(actor=actor, collection="users", record_id=user.pk)


class AccountView(AuthenticatedAPIView):
    handle_json_input = False

    def delete(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # allauth's reauthentication: a 401 naming the flows (password, second factor)
        # unless the user reauthenticated recently (ACCOUNT_REAUTHENTICATION_TIMEOUT).
        # Guests and social-only accounts have nothing to reauthenticate with.
        raise_if_reauthentication_required(request, app="")
        try:
            account_delete(user=request.user, request=request)
        except ApiError as exc:
            return error_response(exc.status, exc.errors[0].code, str(exc), exc.errors)
        request.session.flush()  # already gone from the database; keep it so
        response = HttpResponse(status=204)
        add_never_cache_headers(response)
        return response


class AccountExportView(AuthenticatedAPIView):
    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        limited = ratelimit.consume_or_429(
            request, action="account_export", user=request.user, limit_get=True
        )
        if limited:
            return limited
        user = User.objects.get(pk=request.user.pk)
        response = StreamingHttpResponse(
            export.export_account(user), content_type="application/json"
        )
        response["Content-Disposition"] = (
            f'attachment; filename="{export.export_filename(user)}"'
        )
        add_never_cache_headers(response)
        return response


def account_view():
    return AccountView.as_api_view(client=Client.APP)


def account_export_view():
    return AccountExportView.as_api_view(client=Client.APP)
