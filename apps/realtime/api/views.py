"""`/api/v1/channels`: realtime channel configuration (superusers and `schema` keys).
Described in the OpenAPI document by apps.realtime.api.openapi."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.realtime import channels


class ChannelListView(APIView):
    required_scope = "schema"

    @extend_schema(exclude=True)
    def get(self, request):
        return Response({"items": channels.channel_list(actor=request.user)})

    @extend_schema(exclude=True)
    def post(self, request):
        body = channels.channel_create(
            actor=request.user, data=request.data, request=request
        )
        return Response(body, status=status.HTTP_201_CREATED)


class ChannelDetailView(APIView):
    required_scope = "schema"

    @extend_schema(exclude=True)
    def get(self, request, name: str):
        return Response(channels.channel_get(actor=request.user, name=name))

    @extend_schema(exclude=True)
    def patch(self, request, name: str):
        return Response(
            channels.channel_update(
                actor=request.user, name=name, data=request.data, request=request
            )
        )

    @extend_schema(exclude=True)
    def delete(self, request, name: str):
        channels.channel_delete(actor=request.user, name=name, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)
