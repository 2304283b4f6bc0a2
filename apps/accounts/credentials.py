"""Credentials written by an operator through the records API (a superuser or a key
editing a `users` record): the same consequences as through the account endpoints."""

from __future__ import annotations

from allauth.account.models import EmailAddress

from apps.accounts.sessions import end_user_sessions

# Only the account endpoints change these for the account itself (verification, the
# current password); the records API refuses them to anyone but operators.
OPERATOR_ONLY_FIELDS = ("email", "password")


def operator_wrote_credentials(
    user_id: str, *, email: str | None, password_changed: bool
) -> None:
    """Keep allauth's address list in step with the account (an address an operator
    sets counts as verified) and sign the account out everywhere on a new password."""
    if email is not None:
        EmailAddress.objects.filter(user_id=user_id).exclude(email=email).delete()
        EmailAddress.objects.update_or_create(
            user_id=user_id,
            email=email,
            defaults={"verified": True, "primary": True},
        )
    if password_changed:
        end_user_sessions(user_id)
