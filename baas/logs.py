"""Logging filters for the settings' LOGGING."""

from __future__ import annotations

import logging


class ServerErrorsOnly(logging.Filter):
    """Pass request log records of 5xx answers only: a 4xx is the client's, not ours."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        return status is None or status >= 500
