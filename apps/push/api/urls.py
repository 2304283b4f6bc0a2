"""/api/v1/push/ routes (apps.push)."""

from django.urls import path

from apps.push.api import views

urlpatterns = [
    path("push/devices", views.DeviceListView.as_view(), name="push-devices"),
    path(
        "push/devices/<str:device_id>", views.DeviceView.as_view(), name="push-device"
    ),
    path("push/topics", views.TopicRuleListView.as_view(), name="push-topics"),
    path(
        "push/topics/<str:topic>/subscription",
        views.TopicSubscriptionView.as_view(),
        name="push-topic-subscription",
    ),
    path("push/topics/<str:name>", views.TopicRuleView.as_view(), name="push-topic"),
    path("push/messages", views.MessageListView.as_view(), name="push-messages"),
    path(
        "push/messages/<str:message_id>",
        views.MessageView.as_view(),
        name="push-message",
    ),
    path(
        "push/messages/<str:message_id>/opened",
        views.MessageOpenedView.as_view(),
        name="push-message-opened",
    ),
    path(
        "push/webpush/vapid-public-key",
        views.VapidKeyView.as_view(),
        name="push-vapid-public-key",
    ),
]
