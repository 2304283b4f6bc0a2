"""Console pages for the later features, one module each."""

from admin_ui.views.features import (
    audit,
    files,
    jobs,
    push,
    realtime,
    settings,
    webhooks,
)

urlpatterns = [
    *files.urlpatterns,
    *push.urlpatterns,
    *realtime.urlpatterns,
    *jobs.urlpatterns,
    *webhooks.urlpatterns,
    *audit.urlpatterns,
    *settings.urlpatterns,
]
