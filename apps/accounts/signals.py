"""Accounts written outside the records API (sign-up, `createsuperuser`, password and
login bookkeeping) still reach the change log of the `users` collection."""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from apps.accounts.models import User


@receiver(post_save, sender=User, dispatch_uid="accounts.user_changed")
def log_user_change(
    sender, instance: User, raw: bool = False, update_fields=None, **kwargs
) -> None:
    if raw or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return  # fixtures; a login changes nothing a client syncs
    from apps.collections import changelog
    from apps.collections.dynamic import cache

    spec = cache.current_spec("id", "users")
    if spec is not None:  # (absent only while the database is being set up)
        changelog.log_change(spec, instance.pk, "upsert")
