"""`/api/v1/channels`: realtime channel configuration (superusers and `schema` keys)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.realtime import channels


class RulesSerializer(serializers.Serializer):
    subscribe = serializers.CharField(allow_null=True, required=False, allow_blank=True)
    publish = serializers.CharField(allow_null=True, required=False, allow_blank=True)


class ChannelInputSerializer(serializers.Serializer):
    name = serializers.RegexField(channels.NAME.pattern, max_length=100)
    rules = RulesSerializer(required=False)
    presence = serializers.BooleanField(required=False)


class ChannelPatchSerializer(ChannelInputSerializer):
    name = serializers.RegexField(channels.NAME.pattern, max_length=100, required=False)


class ChannelSerializer(ChannelInputSerializer):
    rules = RulesSerializer()
    presence = serializers.BooleanField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()


class ChannelListSerializer(serializers.Serializer):
    items = ChannelSerializer(many=True)


TAGS = ["channels"]


class ChannelListView(APIView):
    required_scope = "schema"

    @extend_schema(
        tags=TAGS, responses=ChannelListSerializer, operation_id="channels_list"
    )
    def get(self, request):
        return Response({"items": channels.channel_list(actor=request.user)})

    @extend_schema(
        tags=TAGS,
        request=ChannelInputSerializer,
        responses={201: ChannelSerializer},
        operation_id="channels_create",
    )
    def post(self, request):
        body = channels.channel_create(actor=request.user, data=request.data)
        return Response(body, status=status.HTTP_201_CREATED)


class ChannelDetailView(APIView):
    required_scope = "schema"

    @extend_schema(tags=TAGS, responses=ChannelSerializer, operation_id="channels_get")
    def get(self, request, name: str):
        return Response(channels.channel_get(actor=request.user, name=name))

    @extend_schema(
        tags=TAGS,
        request=ChannelPatchSerializer,
        responses=ChannelSerializer,
        operation_id="channels_update",
    )
    def patch(self, request, name: str):
        return Response(
            channels.channel_update(actor=request.user, name=name, data=request.data)
        )

    @extend_schema(
        tags=TAGS,
        responses={204: OpenApiResponse(description="Deleted")},
        operation_id="channels_delete",
    )
    def delete(self, request, name: str):
        channels.channel_delete(actor=request.user, name=name)
        return Response(status=status.HTTP_204_NO_CONTENT)
