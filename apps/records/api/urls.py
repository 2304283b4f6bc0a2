from django.urls import path

from apps.records.api import batch_views, changes_views, read_views

urlpatterns = [
    path(
        "collections/<str:name>/records",
        read_views.record_list,  # GET lean; other methods: views.RecordListView
        name="record-list",
    ),
    path(
        "collections/<str:name>/records/<str:record_id>",
        read_views.record_detail,  # GET lean; others: views.RecordDetailView
        name="record-detail",
    ),
    path(
        "collections/<str:name>/changes",
        changes_views.ChangesView.as_view(),
        name="record-changes",
    ),
    path("batch", batch_views.BatchView.as_view(), name="batch"),
]
