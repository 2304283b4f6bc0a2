"""Thin views: parse the request, call a service, render (DESIGN.md 4)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.collections import schema_io, services
from apps.collections.representation import collection_names_by_id, collection_to_json


class CollectionListView(APIView):
    required_scope = "schema"

    @extend_schema(exclude=True)
    def get(self, request):
        names = collection_names_by_id()
        items = [collection_to_json(s, names) for s in services.list_specs()]
        return Response({"items": items})

    @extend_schema(exclude=True)
    def post(self, request):
        spec = services.collection_create(
            actor=request.user, data=request.data, request=request
        )
        return Response(collection_to_json(spec), status=201)


class CollectionDetailView(APIView):
    required_scope = "schema"

    @extend_schema(exclude=True)
    def get(self, request, name: str):
        return Response(collection_to_json(services.get_spec(name)))

    @extend_schema(exclude=True)
    def patch(self, request, name: str):
        spec = services.collection_update(
            actor=request.user, name=name, data=request.data, request=request
        )
        return Response(collection_to_json(spec))

    @extend_schema(exclude=True)
    def delete(self, request, name: str):
        services.collection_delete(actor=request.user, name=name, request=request)
        return Response(status=204)


class SchemaExportView(APIView):
    required_scope = "schema"

    @extend_schema(exclude=True)
    def get(self, request):
        return Response(schema_io.schema_export())


class SchemaImportView(APIView):
    required_scope = "schema"

    @extend_schema(exclude=True)
    def post(self, request):
        dry_run = request.query_params.get("dry_run") in ("1", "true")
        result = schema_io.schema_import(
            actor=request.user, document=request.data, dry_run=dry_run, request=request
        )
        return Response(result)
