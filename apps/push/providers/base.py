"""What every push provider implements: send one message to a batch of devices of its
platform and say, per device, what became of it. Providers are synchronous (called from
Celery tasks) and may send a batch concurrently inside; they never touch the database.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

Outcome = Literal["sent", "failed", "invalid_token", "retry"]

#: at most this many devices are handed to `Provider.send` at once (FCM's batch size)
BATCH = 500


@dataclass(frozen=True)
class Outgoing:
    """One message, platform-neutral, as the API accepted it."""

    message_id: str
    #: title, body, image (URL), badge (int), sound (str): each optional
    notification: dict = field(default_factory=dict)
    #: custom key/value data, values are strings (FCM's rule, applied to all platforms)
    data: dict[str, str] = field(default_factory=dict)
    ttl: int | None = None  # seconds the provider keeps it for an offline device
    collapse_key: str | None = None
    priority: Literal["high", "normal"] = "high"
    #: per-platform overrides, merged over the payload the provider builds:
    #: {"fcm": {...FCM v1 message fields}, "apns": {"headers": {...}, "payload": {...}},
    #:  "webpush": {"headers": {...}, "payload": {...}}}
    overrides: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    """One device to send to."""

    delivery_id: int
    #: FCM registration token, APNs device token (hex), or a Web Push endpoint URL
    token: str
    #: Web Push only: {"p256dh": ..., "auth": ...} (base64url)
    keys: dict | None = None


@dataclass(frozen=True)
class Result:
    """What became of one device."""

    delivery_id: int
    #: sent: the provider accepted it · failed: it will not be retried (reason says
    #: why) · invalid_token: the provider says the device is gone (deactivate it) ·
    #: retry: a provider 5xx/429 or network error, worth another try
    outcome: Outcome
    reason: str = ""  # the provider's error code and message, for failed and retry
    provider_id: str = ""  # FCM message name, apns-id, Web Push Location
    retry_after: float | None = None  # seconds, from the provider's Retry-After


#: the longest wait a provider's Retry-After may ask for
MAX_RETRY_AFTER = 86400.0


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds (delay-seconds or an HTTP-date), at most a day;
    None if absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


class ProviderNotConfigured(Exception):
    """The platform's credentials are not set (the message says which settings)."""


class Provider(Protocol):
    platform: str
    #: how many sends it has in flight at once: the sender takes rows in windows of
    #: this size, so a worker that dies mid-send leaves at most one window unconfirmed
    concurrency: int

    def send(self, outgoing: Outgoing, targets: Sequence[Target]) -> list[Result]:
        """Send `outgoing` to each target (at most BATCH); one Result per target, in
        any order. Raises only ProviderNotConfigured; every other failure is a
        Result (retry for network errors)."""
        ...

    def close(self) -> None:
        """Release connections (process shutdown, tests)."""
        ...
