"""Self-hostable Backend-as-a-Service on Django."""

from baas.celery import app as celery_app

__all__ = ["celery_app"]
