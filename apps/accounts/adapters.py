"""allauth adapters: the glue between allauth's flows and this server."""

from __future__ import annotations

from types import SimpleNamespace

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from allauth.headless import app_settings as headless_settings
from allauth.headless.adapter import DefaultHeadlessAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.urls import NoReverseMatch
from django.utils.crypto import get_random_string


class AccountAdapter(DefaultAccountAdapter):
    """Abuse resistance (docs/auth.md): rate-limit keys that a client cannot vary, and
    enumeration-safe flows that never fail for want of a web page to link to."""

    def _get_login_attempts_cache_key(self, request, **credentials) -> str:
        # allauth's default is "<site domain>:<email>", and the site domain is the Host
        # header here (no django.contrib.sites): one fresh bucket per Host value.
        from apps.accounts.ratelimit import login_failed_key

        return login_failed_key(
            str(credentials.get("email") or credentials.get("username") or "")
        )

    def get_client_ip(self, request) -> str:
        try:
            return super().get_client_ip(request)
        except ImproperlyConfigured:
            # Fewer X-Forwarded-For entries than BAAS_TRUSTED_PROXY_COUNT: the request
            # did not come through the trusted proxies. Refused, not a 500.
            raise PermissionDenied("The client address cannot be determined.") from None

    def send_account_already_exists_mail(self, email: str) -> None:
        # Sign-up with a taken address answers like any sign-up and mails the owner.
        # allauth builds sign-up and reset page links first, which raises without
        # BAAS_FRONTEND_*_URL: links only where there are pages.
        from allauth.account.internal import flows

        request = allauth_context.request
        links = {
            "signup_url": _optional_page(flows.signup.get_signup_url, request),
            "password_reset_url": _optional_page(
                flows.password_reset.get_reset_password_url, request
            ),
        }
        # A new account's sign-up hashes its password (save_user): so does this
        # branch, with the same hasher, so that the work done does not tell them apart.
        make_password(get_random_string(32))
        self.send_mail(
            "account/email/account_already_exists",
            email,
            {k: v for k, v in links.items() if v},
        )

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        # Links to web pages that this deployment does not have are left out.
        context = {k: v for k, v in context.items() if v != NO_FRONTEND_PAGE}
        # Mail is signed with the app's name, not the Host header of the request.
        request = allauth_context.request
        context.setdefault(
            "current_site",
            SimpleNamespace(
                name=settings.BAAS_APP_NAME,
                domain=request.get_host() if request else settings.BAAS_APP_NAME,
            ),
        )
        super().send_mail(template_prefix, email, context)


# A frontend page link that is not configured (HeadlessAdapter.get_frontend_url): allauth
# needs a non-empty value, AccountAdapter.send_mail leaves it out of the mail.
NO_FRONTEND_PAGE = "about:blank"
OPTIONAL_FRONTEND_PAGES = frozenset({"account_signup", "account_reset_password"})


def _optional_page(build, request) -> str | None:
    try:
        url = build(request)
    except (ImproperlyConfigured, NoReverseMatch):
        return None
    return None if url == NO_FRONTEND_PAGE else url


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Social login (docs/auth.md): only an address the provider has verified may create
    an account, and a malformed id_token is a 400, never a 500."""

    def is_open_for_signup(self, request, sociallogin) -> bool:
        """A provider may create an account only for an address it says it verified.
        An account made from an unverified claim would keep the claimant's provider
        identity linked once the address's real owner takes the account over (by a
        password reset): account pre-hijacking. Such a person signs up by email and
        connects the provider afterwards."""
        if not any(address.verified for address in sociallogin.email_addresses):
            return False
        return super().is_open_for_signup(request, sociallogin)

    def get_provider(self, request, provider, client_id=None):
        instance = super().get_provider(request, provider, client_id=client_id)
        verify_token = instance.verify_token

        def checked_verify_token(request, token):
            # allauth reads the JWT header's `kid`/`alg` and the `sub` claim without
            # checking they exist: a token without them is invalid, not a crash.
            try:
                return verify_token(request, token)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise self.validation_error("invalid_token") from exc

        instance.verify_token = checked_verify_token
        return instance

    def on_authentication_error(
        self, request, provider, error=None, exception=None, extra_context=None
    ) -> None:
        """A failed web redirect flow goes back to the page that started it with
        `?error=...` (allauth). When that page is not known (state lost or forged,
        unknown provider) allauth needs BAAS_FRONTEND_SOCIALACCOUNT_LOGIN_ERROR_URL
        and raises without it: answer 400 instead of a 500."""
        from allauth.core.exceptions import ImmediateHttpResponse
        from allauth.headless.socialaccount import internal

        from apps.core.errors import json_error

        super().on_authentication_error(
            request,
            provider,
            error=error,
            exception=exception,
            extra_context=extra_context,
        )
        try:
            internal.on_authentication_error(
                request,
                provider=provider,
                error=error,
                exception=exception,
                extra_context=extra_context,
            )
        except ImproperlyConfigured:
            pass
        raise ImmediateHttpResponse(
            json_error(400, str(error or "unknown"), "Third-party sign-in failed.")
        )


class HeadlessAdapter(DefaultHeadlessAdapter):
    def get_user_dataclass(self):
        # Guests (apps.accounts.guests): an app shows "save your account" to these.
        import dataclasses

        base = super().get_user_dataclass()
        return dataclasses.make_dataclass(
            "User",
            [(f.name, f.type, f) for f in dataclasses.fields(base)]
            + [
                (
                    "is_guest",
                    bool,
                    dataclasses.field(
                        default=False,
                        metadata={
                            "description": "An anonymous account without an email "
                            "address (POST /api/v1/auth/guest) until it is upgraded.",
                            "example": False,
                        },
                    ),
                )
            ],
        )

    def user_as_dataclass(self, user):
        data = super().user_as_dataclass(user)
        # A guest has no address; one with an address is no longer a guest, whatever a
        # user object loaded before the address was confirmed still says.
        data.is_guest = bool(getattr(user, "is_guest", False)) and not data.email
        return data

    def get_frontend_url(self, urlname: str, **kwargs) -> str | None:
        # The unknown-account and account-exists notices link to a sign-up or reset
        # page that a mobile app does not have; without BAAS_FRONTEND_*_URL allauth
        # would raise (a 500 only for unknown addresses: enumeration). Left out instead.
        if (
            urlname in OPTIONAL_FRONTEND_PAGES
            and not headless_settings.FRONTEND_URLS.get(urlname)
        ):
            return NO_FRONTEND_PAGE
        return super().get_frontend_url(urlname, **kwargs)
