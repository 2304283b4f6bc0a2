"""Account endpoints that allauth has no flow for, under /api/v1 (matched before allauth's)."""

from __future__ import annotations

from django.urls import path

from apps.accounts.api import token_views

urlpatterns = [
    path(
        "tokens/refresh", token_views.RefreshTokenView.as_view(), name="token-refresh"
    ),
]
