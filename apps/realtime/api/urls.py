from django.urls import path

from apps.realtime.api import views

urlpatterns = [
    path("channels", views.ChannelListView.as_view(), name="channels"),
    path("channels/<str:name>", views.ChannelDetailView.as_view(), name="channel"),
]
