"""Account endpoints that allauth has no flow for, under /api/v1 (matched before allauth's)."""

from __future__ import annotations

from django.urls import path

from apps.accounts.api import (
    account_views,
    apikey_views,
    guest_views,
    password_views,
    token_views,
)

urlpatterns = [
    path("apikeys", apikey_views.ApiKeysView.as_view(), name="apikeys"),
    path("apikeys/<str:key_id>", apikey_views.ApiKeyView.as_view(), name="apikey"),
    path(
        "tokens/refresh", token_views.RefreshTokenView.as_view(), name="token-refresh"
    ),
    path(
        "account/password/change",
        password_views.change_password,
        name="account-password-change",
    ),
    # Guest accounts, account deletion and the GDPR export (docs: account.md).
    path("auth/guest", guest_views.guest_sign_in_view(), name="auth-guest"),
    path(
        "auth/guest/upgrade",
        guest_views.guest_upgrade_view(),
        name="auth-guest-upgrade",
    ),
    path("account", account_views.account_view(), name="account"),
    path("account/export", account_views.account_export_view(), name="account-export"),
]
