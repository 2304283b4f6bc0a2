"""Thin views: parse the request, call a service, render (DESIGN.md 4)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.collections import records, records_list, schema_io, services
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
        spec = services.collection_create(actor=request.user, data=request.data)
        return Response(collection_to_json(spec), status=201)


class CollectionDetailView(APIView):
    required_scope = "schema"

    @extend_schema(exclude=True)
    def get(self, request, name: str):
        return Response(collection_to_json(services.get_spec(name)))

    @extend_schema(exclude=True)
    def patch(self, request, name: str):
        spec = services.collection_update(
            actor=request.user, name=name, data=request.data
        )
        return Response(collection_to_json(spec))

    @extend_schema(exclude=True)
    def delete(self, request, name: str):
        services.collection_delete(actor=request.user, name=name)
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
            actor=request.user, document=request.data, dry_run=dry_run
        )
        return Response(result)


class RecordListView(APIView):
    """Access is decided per collection and action by the record services."""

    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def get(self, request, name: str):
        return Response(
            records_list.record_list(
                actor=request.user, collection=name, params=request.query_params
            )
        )

    @extend_schema(exclude=True)
    def post(self, request, name: str):
        record = records.record_create(
            actor=request.user, collection=name, data=request.data
        )
        return Response(record, status=201)


class RecordDetailView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def get(self, request, name: str, record_id: str):
        record = records.record_get(
            actor=request.user,
            collection=name,
            record_id=record_id,
            params=request.query_params,
        )
        etag = records.etag_for(record)
        if etag in entity_tags(request.headers.get("If-None-Match")):
            return Response(status=304, headers={"ETag": etag})
        return Response(record, headers={"ETag": etag})

    @extend_schema(exclude=True)
    def patch(self, request, name: str, record_id: str):
        record = records.record_update(
            actor=request.user,
            collection=name,
            record_id=record_id,
            data=request.data,
            if_match=request.headers.get("If-Match"),
        )
        return Response(record, headers={"ETag": records.etag_for(record)})

    @extend_schema(exclude=True)
    def delete(self, request, name: str, record_id: str):
        records.record_delete(
            actor=request.user,
            collection=name,
            record_id=record_id,
            if_match=request.headers.get("If-Match"),
        )
        return Response(status=204)


def entity_tags(header: str | None) -> set[str]:
    """Entity tags of an If-None-Match header (weak ones compare equal, RFC 9110)."""
    if not header:
        return set()
    return {t.strip().removeprefix("W/") for t in header.split(",")}
