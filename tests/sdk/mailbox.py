"""A mail backend for the SDK suites: one file per message, named in send order.

Django's file backend names a file by the second and the backend object's id() and
appends to it, so two mails sent within one second by backends that happen to reuse an
address share a file, and a reader taking "the newest file" gets the older code.
"""

import itertools
import threading
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend

_sequence = itertools.count(1)
_lock = threading.Lock()


class EmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        folder = Path(settings.EMAIL_FILE_PATH)
        folder.mkdir(parents=True, exist_ok=True)
        for message in email_messages:
            with _lock:
                name = f"{next(_sequence):06d}.eml"
            (folder / name).write_bytes(message.message().as_bytes())
        return len(email_messages)
