"""/api/v1 routes of apps.hooks: audit log, functions (`/fn/...`), jobs, webhooks."""

from django.urls import path, re_path  # noqa: F401

from apps.hooks.api import audit_views, jobs_views
from apps.hooks.api.functions import FunctionView
from apps.hooks.api.webhook_views import (
    DeliveryDetailView,
    DeliveryListView,
    DeliveryRetryView,
    WebhookDetailView,
    WebhookListView,
)

urlpatterns: list = [
    path("audit", audit_views.AuditListView.as_view(), name="audit"),
    path(
        "audit/<str:entry_id>",
        audit_views.AuditEntryView.as_view(),
        name="audit-entry",
    ),
    re_path(r"^fn/(?P<subpath>.*)$", FunctionView.as_view(), name="function"),
    path("jobs", jobs_views.JobListView.as_view(), name="jobs"),
    path("jobs/<str:job_id>", jobs_views.JobView.as_view(), name="job"),
    path(
        "jobs/<str:job_id>/retry", jobs_views.JobRetryView.as_view(), name="job-retry"
    ),
    path("schedules", jobs_views.ScheduleListView.as_view(), name="schedules"),
    path(
        "schedules/<str:schedule_id>",
        jobs_views.ScheduleView.as_view(),
        name="schedule",
    ),
    path("webhooks", WebhookListView.as_view(), name="webhooks"),
    path("webhooks/<str:webhook_id>", WebhookDetailView.as_view(), name="webhook"),
    path(
        "webhooks/<str:webhook_id>/deliveries",
        DeliveryListView.as_view(),
        name="webhook-deliveries",
    ),
    path(
        "webhooks/<str:webhook_id>/deliveries/<str:delivery_id>",
        DeliveryDetailView.as_view(),
        name="webhook-delivery",
    ),
    path(
        "webhooks/<str:webhook_id>/deliveries/<str:delivery_id>/retry",
        DeliveryRetryView.as_view(),
        name="webhook-delivery-retry",
    ),
]
