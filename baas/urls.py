"""URL map: /api/v1 (records, schema, auth), operations, console."""

from allauth.headless.constants import Client
from django.urls import include, path

from apps.accounts.headless_urls import headless_urlpatterns
from apps.core import views as core_views
from apps.records.api.openapi_view import DocsView, OpenApiView

# allauth's headless API for the `app` client, served under /api/v1 (API.md); the
# `browser` client (session cookie + CSRF, for web apps) under /api/browser/v1; both
# without the phone-number routes (not supported yet: apps.accounts.headless_urls).
auth_patterns = [
    path("", include((headless_urlpatterns(Client.APP), "headless"), namespace="app")),
    path(
        "browser/",
        include(
            (headless_urlpatterns(Client.BROWSER), "headless"), namespace="browser"
        ),
    ),
]

urlpatterns = [
    # Records first: the hot paths should not be matched against every auth route.
    path("api/v1/", include("apps.records.api.urls")),
    path("api/v1/", include("apps.collections.api.urls")),
    path("api/v1/", include("apps.files.api.urls")),
    path("api/v1/", include("apps.realtime.api.urls")),
    path("api/v1/", include("apps.hooks.api.urls")),
    path("api/v1/", include("apps.push.api.urls")),
    path("healthz", core_views.healthz),
    path("readyz", core_views.readyz),
    path("api/v1/", include("apps.accounts.api.urls")),
    path("api/", include((auth_patterns, "headless"), namespace="headless")),
    # Social login's provider callbacks (OAuth redirect URIs); HEADLESS_ONLY leaves no
    # other allauth page here.
    path("accounts/", include("allauth.urls")),
    path("api/v1/openapi.json", OpenApiView.as_view(), name="openapi"),
    path("api/docs", DocsView.as_view(), name="api-docs"),
    path("console/", include("admin_ui.urls")),
    path("account/reset/", include("apps.accounts.reset_page")),
]

handler400 = "apps.core.errors.handler400"
handler403 = "apps.core.errors.handler403"
handler404 = "apps.core.errors.handler404"
handler500 = "apps.core.errors.handler500"
