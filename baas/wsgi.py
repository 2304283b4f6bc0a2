"""WSGI entry point (the REST API: `baas web` runs it on granian workers)."""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from baas import front, lifecycle
from baas.request_body import RequestBodyMiddleware

lifecycle.worker_started()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baas.settings")
behind_front = os.environ.get(front.ENV_BEHIND_FRONT) == "1"
application = RequestBodyMiddleware(
    get_wsgi_application(),
    limit=settings.BAAS_MAX_BODY_SIZE,
    upload_limit=settings.BAAS_MAX_UPLOAD_SIZE,
    spool_dir=settings.FILE_UPLOAD_TEMP_DIR,
    linger=front.LINGER_BYTES if behind_front else 0,
)
if behind_front:
    application = front.client_addr_from_proxy(application)
lifecycle.application_loaded()
