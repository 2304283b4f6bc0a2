"""Operator services on accounts (the console's Users page): disable and enable, delete,
device sessions, MFA state. Each checks that the actor is a superuser first, runs in one
transaction and writes its audit entry there (apps.hooks.audit)."""

from __future__ import annotations

from dataclasses import dataclass

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.db import transaction

from apps.accounts import sessions
from apps.accounts.models import User
from apps.accounts.permissions import is_superuser
from apps.core.exceptions import Conflict, Forbidden, NotFound

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
