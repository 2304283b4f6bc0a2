"""The Celery application; configured from Django settings (CELERY_* names)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baas.settings")

app = Celery("baas")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="baas.ping")
def ping() -> str:
    """Round-trip check used by readiness probes and tests."""
    return "pong"
