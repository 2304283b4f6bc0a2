"""POST /api/v1/files/uploads and POST /api/v1/files/uploads/{id}/complete."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.files import uploads


class UploadListView(APIView):
    """Begin a direct upload: a presigned URL for the bytes."""

    permission_classes = [AllowAny]  # the record's update rule decides

    @extend_schema(exclude=True)
    def post(self, request):
        return Response(
            uploads.upload_begin(actor=request.user, data=request.data), status=201
        )


class UploadCompleteView(APIView):
    """Check the uploaded bytes and attach the file to its record."""

    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def post(self, request, id: str):  # noqa: A002  (the path parameter)
        upload_id = id
        return Response(
            uploads.upload_complete(actor=request.user, upload_id=upload_id)
        )
