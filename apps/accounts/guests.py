"""Guest (anonymous) accounts, as Firebase's signInAnonymously and Supabase's anonymous
sign-ins: an account with no email and no usable password, signed in at once on the
device that asked for it, and later upgraded in place (same id, so every record it owns
stays its own) by giving it an email address and a password.

Everything is allauth's machinery: the sign-in is allauth's login (a device session,
access and refresh tokens, usersessions' record of the device), the email address is
verified by allauth's code flow, and uniqueness and enumeration follow sign-up's rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from allauth.account import app_settings as account_settings
from allauth.account.app_settings import EmailVerificationMethod
from allauth.account.internal import flows
from allauth.account.internal.flows.email_verification import (
    send_verification_email_to_address,
)
from allauth.account.internal.flows.email_verification_by_code import (
    EmailVerificationProcess,
)
from allauth.account.models import EmailAddress, Login
from django.contrib.auth import HASH_SESSION_KEY
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse

from apps.accounts.models import User
from apps.core.exceptions import Conflict, Forbidden


def sign_in_guest(request: HttpRequest) -> HttpResponse | None:
    """Create a guest and sign it in through allauth's login (no email to verify)."""
    user = User.objects.create_guest()
    login = Login(user=user, email_verification=EmailVerificationMethod.NONE)
    return flows.login.perform_login(request, login)


@dataclass(frozen=True)
class Upgrade:
    email: str
    #: True while the address waits for the emailed code (mandatory verification);
    #: the account stays a guest until then.
    verification_pending: bool


def _not_a_guest() -> Forbidden:
    return Forbidden(
        "Only a guest account can be upgraded; this account already has one.",
        code="not_a_guest",
    )


def upgrade_guest(
    request: HttpRequest,
    user: User,
    *,
    email: str,
    password: str,
    account_already_exists: bool,
) -> Upgrade:
    """Give a guest a password and an email address (already validated by the caller,
    as sign-up validates them).

    With mandatory verification nothing reveals whether the address is taken: the
    password is set either way, and the address is only attached once the code mailed
    to it is confirmed (allauth's `POST /auth/email/verify`, which also ends guest status
    by setting the account's email). A taken address gets allauth's "account already
    exists" mail instead of a code, as at sign-up. Otherwise (verification optional or
    off) a taken address was already refused by validation and the address is attached
    at once, unverified.
    """
    mandatory = account_settings.EMAIL_VERIFICATION == EmailVerificationMethod.MANDATORY
    try:
        with transaction.atomic():
            locked = User.objects.select_for_update().get(pk=user.pk)
            if not locked.is_guest:
                raise _not_a_guest()
            # A first password: set directly, so that no device session ends (a
            # password *change* signs other devices out; a guest has only this one).
            locked.password = make_password(password)
            if mandatory:
                locked.save(update_fields=["password"])
                address = None
            else:
                locked.email = email
                locked.save(update_fields=["password", "email", "is_guest"])
                address = EmailAddress.objects.create(
                    user=locked, email=email, primary=True, verified=False
                )
    except IntegrityError:
        # The address was taken between validation and now (not mandatory: the
        # validation already said so for a taken address).
        raise Conflict(
            "An account with this email address already exists.",
            code="email_taken",
            param="email",
        ) from None
    user.password = locked.password
    user.email, user.is_guest = locked.email, locked.is_guest
    # Django ties a session to the password (its auth hash): keep this device's session
    # valid under the new one, as update_session_auth_hash does, but without a new
    # session key (the device's tokens name the session).
    request.session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    if mandatory:
        _start_verification(request, user, email, account_already_exists)
    elif account_settings.EMAIL_VERIFICATION == EmailVerificationMethod.OPTIONAL:
        send_verification_email_to_address(request, address, signup=True)
    return Upgrade(email=email, verification_pending=mandatory)


def _start_verification(
    request: HttpRequest, user: User, email: str, account_already_exists: bool
) -> None:
    """allauth's code verification for an address that the signed-in user adds: the code
    is kept in the device session and confirmed at `POST /auth/email/verify`. For an
    address of another account the process mails "account already exists" instead, as
    allauth's own change-of-address flow does."""
    state = EmailVerificationProcess.initial_state(user, email)
    state["account_already_exists"] = account_already_exists
    process = EmailVerificationProcess(request=request, user=user, state=state)
    process.generate_code()
    process.send()
    process.persist()
