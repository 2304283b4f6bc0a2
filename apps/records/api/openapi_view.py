"""The served OpenAPI document and docs page.

The document is generated once per process and audience, and kept while the global schema
fingerprint (one aggregate query over the collection rows) is unchanged. Every schema change,
committed by any process, bumps a `schema_version` and `updated`, so the next request in every
process sees a new fingerprint and regenerates: no in-process invalidation is relied upon.
"""

from __future__ import annotations

from django.db.models import Count, Max, Sum
from django.utils.cache import patch_vary_headers
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiJsonRenderer2
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from apps.accounts.authentication import BearerAuthentication
from apps.accounts.openapi import BearerAuthenticationScheme  # noqa: F401 (registers it)
from apps.collections.models import Collection
from apps.core.csp import set_policy
from apps.core.openapi import BEARER
from apps.hooks.registry import registry as hook_registry
from apps.records.api.openapi import sees_collections

#: (full document?, api version) -> (fingerprint, document)
_documents: dict[tuple, tuple[tuple, dict]] = {}


def schema_fingerprint() -> tuple:
    """Changes with any committed create, change (even a bare version bump) or drop."""
    row = Collection.objects.aggregate(
        count=Count("id"), versions=Sum("schema_version"), changed=Max("updated")
    )
    return (row["count"], row["versions"], row["changed"])


def forget_documents() -> None:
    _documents.clear()


class OpenApiView(SpectacularAPIView):
    """GET /api/v1/openapi.json: public; credentials that may use collections see them all."""

    # Bearer for apps and keys; the console's session so a signed-in superuser sees it all.
    authentication_classes = [BearerAuthentication, SessionAuthentication]
    permission_classes = [AllowAny]
    renderer_classes = [
        OpenApiJsonRenderer,
        OpenApiJsonRenderer2,
    ]  # JSON, as the URL says

    def _get_schema_response(self, request):
        version = (
            self.api_version or request.version or self._get_version_parameter(request)
        )
        key = (sees_collections(request.user), version)
        # Read before generating: a change racing the generation only costs one more.
        stamp = (schema_fingerprint(), hook_registry.routes_fingerprint())
        cached = _documents.get(key)
        if cached is None or cached[0] != stamp:
            generator = self.generator_class(
                urlconf=self.urlconf, api_version=version, patterns=self.patterns
            )
            cached = (
                stamp,
                generator.get_schema(request=request, public=self.serve_public),
            )
            _documents[key] = cached
        response = Response(
            data=cached[1],
            headers={
                "Content-Disposition": f'inline; filename="{self._get_filename(request, version)}"'
            },
        )
        patch_vary_headers(response, ("Authorization", "Cookie"))
        return response


class DocsView(SpectacularSwaggerSplitView):
    """GET /api/docs: Swagger UI from our own static files; Authorize reloads the document.

    The split view serves the start-up script from /api/docs?script, so the page has no
    inline code and runs under a strict Content-Security-Policy (apps/core/csp.py).
    """

    url_name = "openapi"
    template_name = "api_docs/swagger_ui.html"
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        return set_policy(response)

    def _get_schema_auth_names(self):
        return [BEARER]
