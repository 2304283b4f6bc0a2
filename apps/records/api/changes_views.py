"""GET /api/v1/collections/{name}/changes: a thin view over apps.records.changes."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.records import changes


class ChangesView(APIView):
    """Access is decided by the service: the collection's view rule, per record."""

    permission_classes = [AllowAny]

    @extend_schema(exclude=True)  # described per collection in api/openapi_changes.py
    def get(self, request, name: str):
        return Response(
            changes.changes_since(
                actor=request.user, collection=name, params=request.query_params
            )
        )
