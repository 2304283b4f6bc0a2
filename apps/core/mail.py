"""Outgoing mail is queued: Django's EMAIL_BACKEND here only enqueues a Celery task
through the outbox (apps.core.outbox), and the worker sends through the configured
backend (BAAS_EMAIL_BACKEND: SMTP, console, file), so a slow or unreachable mail server,
or a broker that is down, never holds up or fails a request."""

from __future__ import annotations

import smtplib

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend

from apps.core.outbox import enqueue


def serialize_message(message) -> dict:
    return {
        "subject": str(message.subject),
        "body": str(message.body),
        "from_email": message.from_email,
        "to": list(message.to),
        "cc": list(message.cc),
        "bcc": list(message.bcc),
        "reply_to": list(message.reply_to),
        "headers": dict(message.extra_headers or {}),
        "alternatives": [
            [str(content), mimetype]
            for content, mimetype in getattr(message, "alternatives", [])
        ],
    }


class QueuedEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        for message in email_messages:
            enqueue(send_email.name, serialize_message(message))
        return len(email_messages)


@shared_task(
    name="baas.core.send_email",
    autoretry_for=(OSError,),  # connection refused, timeouts, SMTP errors
    # ... but an address the server refuses stays refused: no point retrying.
    dont_autoretry_for=(smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused),
    retry_backoff=10,
    retry_backoff_max=600,
    max_retries=8,
)
def send_email(payload: dict) -> None:
    alternatives = payload.pop("alternatives", [])
    message = EmailMultiAlternatives(
        connection=get_connection(settings.BAAS_EMAIL_DELIVERY_BACKEND), **payload
    )
    for content, mimetype in alternatives:
        message.attach_alternative(content, mimetype)
    message.send()
