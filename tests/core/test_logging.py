"""Request logging: a 4xx answer is the client's business, a 5xx is logged as an error."""

from __future__ import annotations

import logging

from django.http import HttpResponse
from django.test import RequestFactory
from django.utils.log import log_response


def logged(caplog, status: int) -> list[logging.LogRecord]:
    request = RequestFactory().get("/api/v1/somewhere")
    with caplog.at_level(logging.WARNING):
        log_response(
            "%s: %s",
            status,
            request.path,
            response=HttpResponse(status=status),
            request=request,
        )
    return [r for r in caplog.records if r.name == "django.request"]


def test_a_404_is_not_logged(caplog):
    assert logged(caplog, 404) == []


def test_a_401_is_not_logged(caplog):
    assert logged(caplog, 401) == []


def test_a_500_is_logged_as_an_error(caplog):
    (record,) = logged(caplog, 500)
    assert record.levelno == logging.ERROR


def test_a_503_is_logged_as_an_error(caplog):
    (record,) = logged(caplog, 503)
    assert record.levelno == logging.ERROR
