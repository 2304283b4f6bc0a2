"""Accounts written outside the records API (sign-up, `createsuperuser`, password and
login bookkeeping) still reach the change log of the `users` collection."""

from __future__ import annotations

from django.db.models.signals import post_save
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
