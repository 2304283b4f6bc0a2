"""The providers' Retry-After header, read once for FCM, APNs and Web Push: seconds or an
HTTP date, never negative, never more than a day, and nothing a worker cannot schedule."""

from __future__ import annotations

import email.utils
import time

import pytest

from apps.push.providers.base import MAX_RETRY_AFTER, retry_after_seconds


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 30 ", 30.0),
        ("1.5", 1.5),
        ("-5", 0.0),
        ("99999999", MAX_RETRY_AFTER),
        ("1e308", MAX_RETRY_AFTER),
        ("inf", None),
        ("nan", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_a_retry_after_is_read_as_seconds_within_a_day(header, seconds):
    assert retry_after_seconds(header) == seconds


def test_an_http_date_is_read_as_the_seconds_until_it():
    header = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 <= retry_after_seconds(header) <= 60
    past = email.utils.formatdate(time.time() - 60, usegmt=True)
    assert retry_after_seconds(past) == 0.0
