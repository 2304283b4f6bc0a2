"""Who may use the operator-level endpoints: superusers and correctly scoped API keys."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from apps.accounts.apikeys import KeyPrincipal


def is_superuser(user) -> bool:
    return bool(user is not None and getattr(user, "is_superuser", False))


def has_scope(user, scope: str) -> bool:
    """True for an active superuser, or an API key holding `scope`."""
    if isinstance(user, KeyPrincipal):
        return user.has_scope(scope)
    return is_superuser(user) and getattr(user, "is_active", False)


class IsSuperuserOrKey(BasePermission):
    """Default: superusers, or keys with the view's `required_scope`."""

    def has_permission(self, request, view) -> bool:
        scope = getattr(view, "required_scope", None)
        user = request.user
        if user is None or not getattr(user, "is_authenticated", False):
            return False
        if isinstance(user, KeyPrincipal):
            return scope is not None and user.has_scope(scope)
        return is_superuser(user)
