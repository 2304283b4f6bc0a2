"""Device sessions: one per sign-in, listed and revoked by the user (allauth's
usersessions), ended at once by logout, refresh-token reuse, a password change or reset,
and deactivation. Both tokens of a device name its session, so ending it ends them."""

from __future__ import annotations

from allauth.usersessions.models import UserSession
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone


def end_session(session_key: str) -> None:
    with transaction.atomic():
        UserSession.objects.filter(session_key=session_key).delete()
        Session.objects.filter(session_key=session_key).delete()


def end_user_sessions(user_id: str, *, keep: str | None = None) -> None:
    """End every device session of the user (but `keep`, the caller's own)."""
    with transaction.atomic():
        keys = list(
            UserSession.objects.filter(user_id=user_id)
            .exclude(session_key=keep or "")
            .values_list("session_key", flat=True)
        )
        UserSession.objects.filter(session_key__in=keys).delete()
        Session.objects.filter(session_key__in=keys).delete()


def touch(session_key: str) -> None:
    UserSession.objects.filter(session_key=session_key).update(
        last_seen_at=timezone.now()
    )
