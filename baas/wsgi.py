"""WSGI entry point (REST API in production: gunicorn/granian workers)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baas.settings")
application = get_wsgi_application()
