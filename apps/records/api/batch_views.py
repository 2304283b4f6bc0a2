"""POST /api/v1/batch: a thin view over apps.records.batch."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.records import batch

ERROR = {"$ref": "#/components/schemas/Error"}
OPERATION = {
    "type": "object",
    "properties": {
        "method": {"type": "string", "enum": ["GET", "POST", "PATCH", "DELETE"]},
        "url": {
            "type": "string",
            "description": "A record endpoint, with or without `/api/v1`: "
            "`/collections/{name}/records` (GET, POST) or "
            "`/collections/{name}/records/{id}` (GET, PATCH, DELETE); query "
            "parameters as for the single request.",
            "example": "/api/v1/collections/posts/records",
        },
        "body": {
            "type": "object",
            "nullable": True,
            "additionalProperties": True,
            "description": "The record fields, for POST and PATCH only.",
        },
    },
    "required": ["method", "url"],
    "additionalProperties": False,
}
BATCH_REQUEST = {
    "type": "object",
    "properties": {
        "requests": {
            "type": "array",
            "items": OPERATION,
            "minItems": 1,
            "maxItems": batch.MAX_OPERATIONS,
        }
    },
    "required": ["requests"],
    "additionalProperties": False,
}
BATCH_RESPONSE = {
    "type": "object",
    "properties": {
        "responses": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "status": {"type": "integer", "enum": [200, 201, 204]},
                    "body": {
                        # (no `type`: any JSON value, null included; OpenAPI 3.0 allows
                        # `nullable` only beside a `type`)
                        "description": "What the single request would have returned; "
                        "null for a delete.",
                    },
                },
                "required": ["status", "body"],
            },
        }
    },
    "required": ["responses"],
}


def _error(text: str) -> OpenApiResponse:
    return OpenApiResponse(response=ERROR, description=text)


class BatchView(APIView):
    """Access is checked per operation by the record services, as for single requests."""

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="batch",
        summary="Run record requests in one transaction, all or nothing",
        description=(
            "Operations run in order; a later one sees what earlier ones wrote. If one "
            "fails, nothing is written and the response is that operation's error, each "
            "`param` prefixed with `requests.<index>`."
        ),
        tags=["records"],
        request={"application/json": BATCH_REQUEST},
        responses={
            200: OpenApiResponse(
                response=BATCH_RESPONSE, description="Every operation succeeded."
            ),
            400: _error("Invalid batch, or an operation's invalid input."),
            401: _error("An operation needs credentials."),
            403: _error("An operation is not allowed."),
            404: _error("An operation's collection or record was not found."),
            409: _error("An operation conflicts (a unique value, a reference)."),
            413: _error("The request body is too large."),
            415: _error("Unsupported media type: send `application/json`."),
        },
    )
    def post(self, request):
        requests = batch.batch_requests(request.data)
        return Response(
            {"responses": batch.batch_run(actor=request.user, requests=requests)}
        )
