"""Record endpoints that read or write through the record services (apps/records/)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.collections.services import get_spec
from apps.core.parsers import StrictJSONParser
from apps.core.uploads import UploadParser, use_limited_handlers
from apps.records import records, records_list


def _prepare_uploads(request, name: str) -> None:
    """A multipart body streams its files to disk, each within its field's max_size."""
    if request.content_type.startswith("multipart/"):
        spec = get_spec(name)
        limits = {
            f.name: f.options["max_size"]
            for f in spec.fields
            if "max_size" in f.options
        }
        use_limited_handlers(request, limits, settings.BAAS_MAX_BODY_SIZE)


class RecordListView(APIView):
    """Access is decided per collection and action by the record services."""

    permission_classes = [AllowAny]
    parser_classes = [StrictJSONParser, UploadParser]

    @extend_schema(exclude=True)
    def get(self, request, name: str):
        return Response(
            records_list.record_list(
                actor=request.user, collection=name, params=request.query_params
            )
        )

    @extend_schema(exclude=True)
    def post(self, request, name: str):
        _prepare_uploads(request, name)
        record = records.record_create(
            actor=request.user, collection=name, data=request.data
        )
        return Response(record, status=201)


class RecordDetailView(APIView):
    permission_classes = [AllowAny]
    parser_classes = [StrictJSONParser, UploadParser]

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
        _prepare_uploads(request, name)
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
