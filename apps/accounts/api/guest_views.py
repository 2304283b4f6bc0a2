"""POST /api/v1/auth/guest and /api/v1/auth/guest/upgrade: allauth headless views (the
`app` client), so they answer in allauth's shapes and sign in with allauth's tokens."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.account.internal import flows
from allauth.core import ratelimit
from allauth.decorators import rate_limit
from allauth.headless.adapter import get_adapter as get_headless_adapter
from allauth.headless.base.response import AuthenticationResponse, ConflictResponse
from allauth.headless.base.views import APIView, AuthenticatedAPIView
from allauth.headless.constants import Client
from allauth.headless.internal.restkit import inputs
from allauth.headless.internal.restkit.response import APIResponse
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator

from apps.accounts import guests
from apps.accounts.api.account_views import error_response
from apps.core.exceptions import ApiError

MAX_PASSWORD_LENGTH = 256  # as the records API: hashing megabytes costs seconds


@method_decorator(rate_limit(action="guest"), name="handle")
class GuestSignInView(APIView):
    handle_json_input = False  # no body

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            return ConflictResponse(request)
        if not get_account_adapter().is_open_for_signup(request):
            return error_response(
                403, "signup_closed", "New accounts cannot be created here."
            )
        response = guests.sign_in_guest(request)
        return AuthenticationResponse.from_response(request, response)


class GuestUpgradeInput(inputs.Input):
    email = inputs.EmailField()
    password = inputs.CharField(max_length=MAX_PASSWORD_LENGTH, strip=False)

    def __init__(self, *args, user, **kwargs) -> None:
        self.user = user
        self.account_already_exists = False
        super().__init__(*args, **kwargs)

    def clean_email(self) -> str:
        """As sign-up: unique regardless of case; under mandatory verification with
        enumeration prevention a taken address is not refused here (see guests)."""
        adapter = get_account_adapter()
        value = adapter.clean_email(self.cleaned_data["email"].lower())
        value, self.account_already_exists = flows.manage_email.email_already_exists(
            value, user=self.user
        )
        return value

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        return get_account_adapter().clean_password(password, user=self.user)


class GuestUpgradeView(AuthenticatedAPIView):
    input_class = GuestUpgradeInput

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any):
        user = request.user
        if user.is_authenticated and not getattr(user, "is_guest", False):
            return error_response(
                403,
                "not_a_guest",
                "Only a guest account can be upgraded; this account already has one.",
            )
        if user.is_authenticated:
            limited = ratelimit.consume_or_429(
                request, action="manage_email", user=user
            )
            if limited:
                return limited
        return super().dispatch(request, *args, **kwargs)

    def get_input_kwargs(self) -> dict:
        return {"user": self.request.user}

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        data = self.input.cleaned_data
        try:
            upgrade = guests.upgrade_guest(
                request,
                request.user,
                email=data["email"],
                password=data["password"],
                account_already_exists=self.input.account_already_exists,
            )
        except ApiError as exc:
            return error_response(exc.status, exc.errors[0].code, str(exc), exc.errors)
        if not upgrade.verification_pending:
            return AuthenticationResponse(request)
        # The same answer whether or not the address belongs to another account.
        return APIResponse(
            request,
            status=HTTPStatus.ACCEPTED,
            data={
                "user": get_headless_adapter().serialize_user(request.user),
                "email": upgrade.email,
                "flows": [{"id": "verify_email", "is_pending": True}],
            },
            meta={"is_authenticated": True},
        )


def guest_sign_in_view():
    return GuestSignInView.as_api_view(client=Client.APP)


def guest_upgrade_view():
    return GuestUpgradeView.as_api_view(client=Client.APP)
