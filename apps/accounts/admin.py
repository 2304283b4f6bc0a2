"""Operator services on accounts (the console's Users page): disable and enable, delete,
device sessions, MFA state, a password reset email. Each checks that the actor is a
superuser first, runs in one transaction and writes its audit entry there
(apps.hooks.audit)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.accounts import sessions
from apps.accounts.models import User
from apps.accounts.permissions import is_superuser
from apps.core.exceptions import Conflict, Forbidden, InvalidInput, NotFound

MFA_LABELS = {
    Authenticator.Type.TOTP: "Authenticator app (TOTP)",
    Authenticator.Type.WEBAUTHN: "Passkey / security key",
    Authenticator.Type.RECOVERY_CODES: "Recovery codes",
}


@dataclass(frozen=True)
class DeviceSession:
    """A device session as an operator sees it: never its key."""

    id: int
    ip: str
    user_agent: str
    created_at: object
    last_seen_at: object


def _require_superuser(actor) -> None:
    if not is_superuser(actor) or not getattr(actor, "is_active", False):
        raise Forbidden("Superusers only.")


def _snapshot(user: User) -> dict:
    return {
        "id": user.pk,
        "email": user.email,
        "is_active": user.is_active,
        "is_superuser": user.is_superuser,
    }


def _audit(actor, request, action: str, user: User, before, after) -> None:
    from apps.hooks import audit

    audit.record(
        actor=actor,
        action=action,
        target=audit.Target("user", user.pk, user.email or ""),
        before=before,
        after=after,
        request=request,
    )


def user_get(*, actor, user_id: str) -> User:
    _require_superuser(actor)
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise NotFound("No such user.")
    return user


def user_set_active(*, actor, user_id: str, active: bool, request=None) -> User:
    """Disable (the account can no longer sign in, and every device session with its
    tokens ends at once: apps.accounts.signals) or enable an account. An operator
    cannot disable their own account (so the last active superuser stays)."""
    _require_superuser(actor)
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id).first()
        if user is None:
            raise NotFound("No such user.")
        if not active and str(user.pk) == str(actor.pk):
            raise Conflict("You cannot disable your own account.", code="self")
        if user.is_active == active:
            return user
        before = _snapshot(user)
        user.is_active = active
        user.save(update_fields=["is_active", "updated"])
        if not active:  # the signal does it too; a disabled account keeps no session
            sessions.end_user_sessions(user.pk)
        _audit(
            actor,
            request,
            "user.enable" if active else "user.disable",
            user,
            before,
            _snapshot(user),
        )
    return user


def user_delete(*, actor, user_id: str, request=None) -> None:
    """Delete an account through the service the account deletion uses (cascades by
    the relation fields' settings, sessions ended, tombstone in the change log); its
    `account.delete` audit entry names the operator. Never one's own account."""
    from apps.accounts.api.account_views import account_delete
    from apps.hooks import audit

    user = user_get(actor=actor, user_id=user_id)
    if str(user.pk) == str(actor.pk):
        raise Conflict("You cannot delete your own account.", code="self")
    with audit.acting(actor, request):
        account_delete(user=user, request=request)


def user_sessions(*, actor, user_id: str) -> list[DeviceSession]:
    """The account's device sessions (allauth usersessions), newest first."""
    user = user_get(actor=actor, user_id=user_id)
    return [
        DeviceSession(s.pk, s.ip, s.user_agent, s.created_at, s.last_seen_at)
        for s in UserSession.objects.filter(user=user).order_by("-created_at")
    ]


def user_end_session(*, actor, user_id: str, session_id: int, request=None) -> None:
    """End one device session of the account: its refresh token stops at once and its
    access tokens on their next request (apps.accounts.tokens)."""
    _require_superuser(actor)
    with transaction.atomic():
        found = (
            UserSession.objects.select_related("user")
            .filter(pk=session_id, user_id=user_id)
            .first()
        )
        if found is None:
            raise NotFound("No such session.")
        sessions.end_session(found.session_key)
        _audit(
            actor,
            request,
            "user.session.end",
            found.user,
            {"session": found.pk, "ip": found.ip, "user_agent": found.user_agent},
            None,
        )


def password_reset_key(user: User) -> str:
    """`uidb36-token`, the key format of allauth's link-based reset: Django's token, which
    stops working once the password changes, the user signs in, or PASSWORD_RESET_TIMEOUT
    passes (apps.accounts.reset_page checks it)."""
    from allauth.account.utils import user_pk_to_url_str

    return f"{user_pk_to_url_str(user)}-{default_token_generator.make_token(user)}"


def reset_link_lifetime() -> str:
    """How long a reset link works, in words ("3 days")."""
    seconds = int(settings.PASSWORD_RESET_TIMEOUT)
    if seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} day{'s' if days != 1 else ''}"
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    minutes = max(1, seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def send_password_reset(*, actor, user_id: str, request) -> None:
    """Email the account a link to the server's password reset page
    (apps.accounts.reset_page), where its owner chooses a new password: what Firebase's
    console calls "send password reset email". The link is absolute, built from the
    operator's request, and stops working as `password_reset_key` says. Refused for
    accounts without an address (guests) and disabled accounts."""
    _require_superuser(actor)
    user = user_get(actor=actor, user_id=user_id)
    if not user.email:
        raise InvalidInput(
            "This account has no email address (a guest): there is nowhere to send "
            "a reset link.",
            code="no_email",
        )
    if not user.is_active:
        raise Conflict(
            "This account is disabled: enable it before sending a password reset.",
            code="inactive",
        )
    timeout = int(settings.PASSWORD_RESET_TIMEOUT)
    link = request.build_absolute_uri(
        reverse("password-reset-page", kwargs={"key": password_reset_key(user)})
    )
    expires = timezone.now() + timedelta(seconds=timeout)
    app = settings.BAAS_APP_NAME
    body = (
        f"Hello,\n\n"
        f"An administrator of {app} asked to reset the password of your account "
        f"({user.email}).\n\n"
        f"To choose a new password, open this link:\n\n{link}\n\n"
        f"The link works once and expires in {reset_link_lifetime()} "
        f"({expires:%Y-%m-%d %H:%M} UTC), or as soon as you sign in or your password "
        f"changes. Until you use it your current password keeps working; choosing a "
        f"new one signs you out of every device.\n\n"
        f"If you did not expect this, you can ignore this email.\n"
    )
    with transaction.atomic():
        send_mail(
            f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}Reset your password",
            body,
            None,
            [user.email],
        )
        _audit(
            actor,
            request,
            "user.password_reset_sent",
            user,
            None,
            {"email": user.email, "expires_at": expires.isoformat()},
        )


def user_mfa(*, actor, user_id: str) -> list[dict]:
    """The account's second factors: type, label, when added and last used."""
    user = user_get(actor=actor, user_id=user_id)
    return [
        {
            "type": a.type,
            "label": MFA_LABELS.get(a.type, a.type),
            "created_at": a.created_at,
            "last_used_at": a.last_used_at,
        }
        for a in Authenticator.objects.filter(user=user).order_by("created_at")
    ]


def verified_emails(user_ids: list[str]) -> set[str]:
    """Which of these accounts have their primary address verified."""
    return set(
        EmailAddress.objects.filter(
            user_id__in=user_ids, primary=True, verified=True
        ).values_list("user_id", flat=True)
    )


def mfa_types(user_ids: list[str]) -> dict[str, list[str]]:
    """Second-factor types per account (recovery codes left out: not a factor alone)."""
    found: dict[str, list[str]] = {}
    rows = (
        Authenticator.objects.filter(user_id__in=user_ids)
        .exclude(type=Authenticator.Type.RECOVERY_CODES)
        .values_list("user_id", "type")
    )
    for user_id, kind in rows:
        found.setdefault(user_id, []).append(kind)
    return found
