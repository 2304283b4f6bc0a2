"""`/api/v1/webhooks`: webhooks and their deliveries (superusers and `webhooks` keys).
Described in the OpenAPI document by apps.hooks.api.webhook_openapi."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.hooks import webhook_service as service


class _WebhooksView(APIView):
    required_scope = service.SCOPE


class WebhookListView(_WebhooksView):
    @extend_schema(exclude=True)
    def get(self, request):
        return Response({"items": service.webhook_list(actor=request.user)})

    @extend_schema(exclude=True)
    def post(self, request):
        body = service.webhook_create(
            actor=request.user, data=request.data, request=request
        )
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookDetailView(_WebhooksView):
    @extend_schema(exclude=True)
    def get(self, request, webhook_id: str):
        return Response(service.webhook_get(actor=request.user, webhook_id=webhook_id))

    @extend_schema(exclude=True)
    def patch(self, request, webhook_id: str):
        return Response(
            service.webhook_update(
                actor=request.user,
                webhook_id=webhook_id,
                data=request.data,
                request=request,
            )
        )

    @extend_schema(exclude=True)
    def delete(self, request, webhook_id: str):
        service.webhook_delete(
            actor=request.user, webhook_id=webhook_id, request=request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeliveryListView(_WebhooksView):
    @extend_schema(exclude=True)
    def get(self, request, webhook_id: str):
        return Response(
            service.delivery_list(
                actor=request.user, webhook_id=webhook_id, params=request.query_params
            )
        )


class DeliveryDetailView(_WebhooksView):
    @extend_schema(exclude=True)
    def get(self, request, webhook_id: str, delivery_id: str):
        return Response(
            service.delivery_get(
                actor=request.user, webhook_id=webhook_id, delivery_id=delivery_id
            )
        )


class DeliveryRetryView(_WebhooksView):
    @extend_schema(exclude=True)
    def post(self, request, webhook_id: str, delivery_id: str):
        body = service.delivery_retry(
            actor=request.user, webhook_id=webhook_id, delivery_id=delivery_id
        )
        return Response(body, status=status.HTTP_202_ACCEPTED)
