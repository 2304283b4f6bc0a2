"""Static files (the console's, Swagger UI's) served by the app itself, whatever DEBUG says."""

from __future__ import annotations

import os

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse
from whitenoise.middleware import WhiteNoiseMiddleware


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise reading from the apps' static folders (WHITENOISE_USE_FINDERS).

    STATIC_ROOT is filled only by an optional `collectstatic`; while it does not exist it is
    skipped quietly instead of warned about on every start.
    """

    def add_files(self, root, prefix=None):
        if root and not os.path.isdir(root):
            return
        super().add_files(root, prefix)

    @staticmethod
    def serve(static_file, request):
        response = WhiteNoiseMiddleware.serve(static_file, request)
        if not isinstance(request, ASGIRequest) or not response.streaming:
            return response  # WSGI: streamed (or sendfile) as WhiteNoise does it
        # Django's ASGI handler reads a file's sync iterator whole in a thread anyway, with a
        # warning; reading it here does the same work without one.
        try:
            whole = HttpResponse(
                b"".join(response.streaming_content), status=response.status_code
            )
        finally:
            response.close()
        for header, value in response.items():
            whole[header] = value
        return whole
