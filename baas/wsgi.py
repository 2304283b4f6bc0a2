"""WSGI entry point (the REST API: `baas web` runs it on granian workers)."""

import os

from django.core.wsgi import get_wsgi_application

from baas import lifecycle

lifecycle.worker_started()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baas.settings")
application = get_wsgi_application()
