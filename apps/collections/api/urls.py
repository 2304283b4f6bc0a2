from django.urls import path

from apps.collections.api import views

urlpatterns = [
    path("collections", views.CollectionListView.as_view(), name="collection-list"),
    path(
        "collections/<str:name>",
        views.CollectionDetailView.as_view(),
        name="collection-detail",
    ),
    path("schema", views.SchemaExportView.as_view(), name="schema-export"),
    path("schema/import", views.SchemaImportView.as_view(), name="schema-import"),
]
