"""/console/: the sign-in pages, then one URL module per area (admin_ui/views/*)."""

from __future__ import annotations

from django.urls import path

from admin_ui import auth
from admin_ui.views import (
    collections,
    features,
    home,
    keys,
    records,
    rules,
    users,
)

app_name = "console"

urlpatterns = [
    path("login/", auth.login_view, name="login"),
    path("login/mfa/", auth.mfa_view, name="login-mfa"),
    path("login/passkey/", auth.passkey_view, name="login-passkey"),
    path("logout/", auth.logout_view, name="logout"),
    *home.urlpatterns,
    *collections.urlpatterns,
    *rules.urlpatterns,
    *records.urlpatterns,
    *users.urlpatterns,
    *keys.urlpatterns,
    *features.urlpatterns,
]
