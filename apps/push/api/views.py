"""`/api/v1/push/...`: devices and topic subscriptions (app users), messages
(superusers and `push:send` keys; opens reported by the device's user), topic rules
(superusers and `schema` keys), the VAPID public key (anyone). Described in the OpenAPI
document by apps.push.api.openapi."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import ServiceUnavailable
from apps.push import devices, messages, topics, vapid
from apps.push.providers.base import ProviderNotConfigured


class DeviceListView(APIView):
    permission_classes = [AllowAny]  # the service decides: app users only

    @extend_schema(exclude=True)
    def get(self, request):
        return Response({"items": devices.device_list(actor=request.user)})

    @extend_schema(exclude=True)
    def post(self, request):
        body, created = devices.device_register(actor=request.user, data=request.data)
        return Response(body, status=201 if created else 200)


class DeviceView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def get(self, request, device_id: str):
        return Response(devices.device_get(actor=request.user, device_id=device_id))

    @extend_schema(exclude=True)
    def delete(self, request, device_id: str):
        devices.device_delete(actor=request.user, device_id=device_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TopicSubscriptionView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def post(self, request, topic: str):
        return Response(
            devices.topic_subscribe(
                actor=request.user, topic=topic, data=request.data, subscribe=True
            )
        )

    @extend_schema(exclude=True)
    def delete(self, request, topic: str):
        return Response(
            devices.topic_subscribe(
                actor=request.user, topic=topic, data=request.data, subscribe=False
            )
        )


class MessageListView(APIView):
    required_scope = messages.SCOPE

    @extend_schema(exclude=True)
    def get(self, request):
        return Response(
            messages.message_list(actor=request.user, params=request.query_params)
        )

    @extend_schema(exclude=True)
    def post(self, request):
        body = messages.message_send(actor=request.user, data=request.data)
        return Response(body, status=status.HTTP_202_ACCEPTED)


class MessageView(APIView):
    required_scope = messages.SCOPE

    @extend_schema(exclude=True)
    def get(self, request, message_id: str):
        return Response(
            messages.message_get(
                actor=request.user, message_id=message_id, params=request.query_params
            )
        )

    @extend_schema(exclude=True)
    def delete(self, request, message_id: str):
        return Response(
            messages.message_cancel(actor=request.user, message_id=message_id)
        )


class MessageOpenedView(APIView):
    permission_classes = [AllowAny]  # the device's user

    @extend_schema(exclude=True)
    def post(self, request, message_id: str):
        return Response(
            messages.message_opened(
                actor=request.user, message_id=message_id, data=request.data
            )
        )


class TopicRuleListView(APIView):
    required_scope = "schema"

    @extend_schema(exclude=True)
    def get(self, request):
        return Response({"items": topics.topic_list(actor=request.user)})

    @extend_schema(exclude=True)
    def post(self, request):
        body = topics.topic_create(
            actor=request.user, data=request.data, request=request
        )
        return Response(body, status=status.HTTP_201_CREATED)


class TopicRuleView(APIView):
    required_scope = "schema"

    @extend_schema(exclude=True)
    def get(self, request, name: str):
        return Response(topics.topic_get(actor=request.user, name=name))

    @extend_schema(exclude=True)
    def patch(self, request, name: str):
        return Response(
            topics.topic_update(
                actor=request.user, name=name, data=request.data, request=request
            )
        )

    @extend_schema(exclude=True)
    def delete(self, request, name: str):
        topics.topic_delete(actor=request.user, name=name, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VapidKeyView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(exclude=True)
    def get(self, request):
        try:
            return Response({"public_key": vapid.keys().public_key})
        except ProviderNotConfigured as exc:  # a BAAS_VAPID_* setting is not valid
            raise ServiceUnavailable(str(exc), code="not_configured") from None
