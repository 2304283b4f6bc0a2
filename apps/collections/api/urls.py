from django.urls import path

from apps.collections.api import batch_views, changes_views, views

urlpatterns = [
    path("collections", views.CollectionListView.as_view(), name="collection-list"),
    path(
        "collections/<str:name>",
        views.CollectionDetailView.as_view(),
        name="collection-detail",
    ),
    path(
        "collections/<str:name>/records",
        views.RecordListView.as_view(),
        name="record-list",
    ),
    path(
        "collections/<str:name>/records/<str:record_id>",
        views.RecordDetailView.as_view(),
        name="record-detail",
    ),
    path(
        "collections/<str:name>/changes",
        changes_views.ChangesView.as_view(),
        name="record-changes",
    ),
    path("schema", views.SchemaExportView.as_view(), name="schema-export"),
    path("schema/import", views.SchemaImportView.as_view(), name="schema-import"),
    path("batch", batch_views.BatchView.as_view(), name="batch"),
]
