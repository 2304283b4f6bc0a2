"""GET /api/v1/files/{collection}/{record}/{name} and POST /api/v1/files/token."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.authentication import BearerAuthentication
from apps.collections.services import get_spec
from apps.core.exceptions import (
    ErrorItem,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unauthenticated,
)
from apps.core.renderers import FastJSONRenderer
from apps.files import storage, thumbnails, tokens
from apps.files.delivery import Served, respond
from apps.files.models import StoredFile
from apps.files.naming import valid_stored_name
from apps.files.thumbs import THUMBABLE_TYPES, ThumbError
from apps.records import records


class JSONOnly(BaseContentNegotiation):
    """Files answer whatever `Accept` says (an <img> asks for image/*); errors are JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        renderer: BaseRenderer = renderers[0]
        return renderer, renderer.media_type


def _not_found() -> NotFound:
    return NotFound("The file does not exist.", code="file_not_found")


class FileView(APIView):
    """A record's file, for whoever may view the record and read the field."""

    authentication_classes = [tokens.FileTokenAuthentication, BearerAuthentication]
    permission_classes = [AllowAny]
    renderer_classes = [FastJSONRenderer]
    content_negotiation_class = JSONOnly

    @extend_schema(exclude=True)
    def get(self, request, collection: str, record: str, name: str):
        record_id = record
        if not valid_stored_name(name):
            raise _not_found()
        spec = get_spec(collection)
        files = [f for f in spec.fields if f.type == "file"]
        if not files:
            raise _not_found()
        # As the caller sees the record: hidden and read-ruled fields are left out.
        shown = records.record_get(
            actor=request.user, collection=collection, record_id=record_id
        )
        field = next((f for f in files if _holds(shown.get(f.name), name)), None)
        if field is None:
            raise _not_found()
        signed_in = bool(getattr(request.user, "is_authenticated", False))
        if field.options.get("protected") and not signed_in:
            raise Unauthenticated(
                "This file needs a file token (POST /api/v1/files/token).",
                code="file_token_required",
            )
        row = StoredFile.objects.filter(
            collection_id=spec.id,
            record_id=record_id,
            name=name,
            state=StoredFile.ATTACHED,
        ).first()
        if row is None:
            raise _not_found()
        public = (
            spec.rules.get("view") == ""
            and not (field.rules or {}).get("read")
            and not field.options.get("protected")
        )
        download = request.query_params.get("download") in ("1", "true")
        thumb = request.query_params.get("thumb")
        if thumb is not None and row.content_type in THUMBABLE_TYPES:
            return respond(request, _thumb(row, field, thumb, public, download))
        if thumb is not None and thumb not in field.options.get("thumbs", []):
            raise _thumb_not_allowed(field)
        served = Served.file(row, public=public, download=download)
        redirect = settings.BAAS_S3_REDIRECT_SIZE
        return respond(
            request,
            served,
            redirect_over=redirect if storage.is_s3() and redirect >= 0 else None,
        )

    head = get


def _holds(value, name: str) -> bool:
    return value == name or (isinstance(value, list) and name in value)


def _thumb_not_allowed(field) -> InvalidInput:
    allowed = ", ".join(field.options.get("thumbs") or []) or "none"
    return InvalidInput(
        errors=[
            ErrorItem(
                "thumb_not_allowed",
                f"Thumb sizes of {field.name!r}: {allowed}.",
                "thumb",
            )
        ]
    )


def _thumb(row: StoredFile, field, thumb: str, public: bool, download: bool) -> Served:
    if thumb not in field.options.get("thumbs", []):
        raise _thumb_not_allowed(field)
    try:
        made = thumbnails.ensure(row, thumb)
    except ThumbError as exc:
        if exc.code == "image_too_large":
            raise PayloadTooLarge(exc.message, code=exc.code, param="thumb") from None
        raise InvalidInput(exc.message, code=exc.code, param="thumb") from None
    return Served.thumb(row, thumb, made, public=public, download=download)


class FileTokenView(APIView):
    """A short-lived token for file URLs, for the signed-in user."""

    authentication_classes = [BearerAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(exclude=True)
    def post(self, request):
        claims = request.auth if isinstance(request.auth, dict) else {}
        session = claims.get("_session")
        if session is None:
            raise Forbidden(
                "File tokens are for signed-in users; API keys send their key.",
                code="forbidden",
            )
        token, expires = tokens.issue(request.user.pk, session)
        return Response(
            {
                "token": token,
                "expires": expires.isoformat(timespec="milliseconds").replace(
                    "+00:00", "Z"
                ),
            }
        )
