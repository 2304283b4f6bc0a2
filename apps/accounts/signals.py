"""Accounts written outside the records API (sign-up, `createsuperuser`, password and
login bookkeeping) still reach the change log of the `users` collection."""

from __future__ import annotations

from allauth.account.signals import user_logged_in
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from apps.accounts.models import User


@receiver(post_save, sender=User, dispatch_uid="accounts.credentials_changed")
def end_sessions_on_credentials_change(
    sender, instance: User, created: bool = False, raw: bool = False, **kwargs
) -> None:
    """A new password or a deactivation signs the account out of every device, however
    it was made (API, console, command line). The device that changed its own password
    gets a new session from allauth (`update_session_auth_hash`)."""
    if instance.credentials_changed() and not (created or raw):
        from apps.accounts.sessions import end_user_sessions

        end_user_sessions(instance.pk)


@receiver(post_save, sender=User, dispatch_uid="accounts.user_changed")
def log_user_change(
    sender,
    instance: User,
    created: bool = False,
    raw: bool = False,
    update_fields=None,
    **kwargs,
) -> None:
    if raw or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return  # fixtures; a login changes nothing a client syncs
    from apps.collections.dynamic import cache
    from apps.collections.models import Change
    from apps.records import changelog

    spec = cache.current_spec("id", "users")
    if spec is not None:  # (absent only while the database is being set up)
        changelog.log_change(
            spec, instance.pk, Change.CREATE if created else Change.UPDATE
        )


@receiver(post_delete, sender=User, dispatch_uid="accounts.audit_account_delete")
def audit_account_delete(sender, instance: User, **kwargs) -> None:
    """Every deleted account has an `account.delete` audit entry, in the deleting
    transaction, however it was deleted (DELETE /account, the `users` record, a
    cascade); the actor is the one the deleting code named (`audit.acting`), else
    "system"."""
    from apps.hooks import audit

    actor, request = audit.current_actor()
    audit.record(
        actor=actor,
        action="account.delete",
        target=audit.Target("user", instance.pk, instance.email or ""),
        before={
            "id": instance.pk,
            "email": instance.email,
            "is_superuser": instance.is_superuser,
            "is_guest": instance.is_guest,
            "is_active": instance.is_active,
            "created": instance.created,
        },
        request=request,
    )


@receiver(user_logged_in, dispatch_uid="accounts.audit_superuser_login")
def audit_superuser_login(sender, request, user, **kwargs) -> None:
    """A completed sign-in of a superuser (password, second factor, code, provider:
    every flow ends in allauth's `user_logged_in`) is a `superuser.login` entry; a
    password step still waiting for the second factor is not."""
    if not getattr(user, "is_superuser", False):
        return
    from apps.hooks import audit

    audit.record(
        actor=user,
        action="superuser.login",
        target=audit.Target("user", user.pk, user.email or ""),
        after={"methods": _login_methods(request, user)},
        request=request,
    )


def _login_methods(request, user) -> list[str]:
    """How the sign-in was made ("password", "mfa:totp", ...), from allauth's record
    of the session's authentications (names only: no address, code or token)."""
    from allauth.account.internal.flows.login import get_authentication_records

    methods = []
    for entry in get_authentication_records(request, user):
        if not isinstance(entry, dict) or not entry.get("method"):
            continue
        kind = entry.get("type") or entry.get("provider")
        methods.append(f"{entry['method']}:{kind}" if kind else str(entry["method"]))
    return methods
