from django.urls import path

from apps.files.api import uploads_views, views

urlpatterns = [
    path("files/token", views.FileTokenView.as_view(), name="file-token"),
    path("files/uploads", uploads_views.UploadListView.as_view(), name="file-uploads"),
    path(
        "files/uploads/<str:id>/complete",
        uploads_views.UploadCompleteView.as_view(),
        name="file-upload-complete",
    ),
    path(
        "files/<str:collection>/<str:record>/<str:name>",
        views.FileView.as_view(),
        name="file",
    ),
]
