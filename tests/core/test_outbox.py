"""The outbox: work is stored in the request's transaction and published after commit; a
broker that is down costs the request nothing, and the kept work is published later.

In-process tests run Celery tasks inline (eager); here the app publishes to a real kombu
transport instead: the in-memory one (a broker that is up, whose queue can be read) or
Redis on a port where nothing listens (a broker that is down).
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import transaction
from rest_framework.test import APIClient

from apps.core import outbox
from apps.core.models import OutboxMessage
from baas.celery import app
from tests.e2e import servers

PASSWORD = "A-long-pass-phrase-1"


def use_broker(url: str | None) -> None:
    """Publish to `url` for real, or (None) run tasks inline again as in-process tests do."""
    app.conf.task_always_eager = url is None
    if url is not None:
        app.conf.broker_url = url
    app._after_fork()  # forget pooled connections to the previous broker


@pytest.fixture
def broker_up():
    original = app.conf.broker_url
    use_broker("memory://")
    with app.connection_for_write() as conn:
        queue = conn.SimpleQueue(app.conf.task_default_queue)
        queue.clear()
        yield queue
        queue.clear()
        queue.close()
    app.conf.broker_url = original
    use_broker(None)


@pytest.fixture
def broker_down():
    original = app.conf.broker_url
    use_broker(f"redis://127.0.0.1:{servers.free_port()}/0")
    outbox._backlog = False
    yield
    app.conf.broker_url = original
    use_broker(None)
    outbox._backlog = False


@pytest.fixture(autouse=True)
def queued_mail(settings):
    """Mail as the server sends it: through the outbox (pytest-django's default sends it
    to `mail.outbox` directly), then by the task to `mail.outbox`."""
    settings.EMAIL_BACKEND = "apps.core.mail.QueuedEmailBackend"
    settings.BAAS_EMAIL_DELIVERY_BACKEND = (
        "django.core.mail.backends.locmem.EmailBackend"
    )


def queued_tasks(queue) -> list[str]:
    names = []
    while queue.qsize():
        message = queue.get(block=False)
        names.append(message.headers["task"])
        message.ack()
    return names


def sign_up(address: str):
    return APIClient().post(
        "/api/v1/auth/signup",
        {"email": address, "password": PASSWORD},
        format="json",
    )


def test_in_process_tests_send_mail_at_once_and_keep_no_row(db):
    response = sign_up("inline@example.com")
    assert response.status_code == 401, response.content
    assert [m.to for m in mail.outbox] == [["inline@example.com"]]
    assert not OutboxMessage.objects.exists()


def test_work_is_published_when_its_transaction_commits(transactional_db, broker_up):
    with transaction.atomic():
        outbox.enqueue("baas.ping")
        assert queued_tasks(broker_up) == []
        assert OutboxMessage.objects.count() == 1
    assert queued_tasks(broker_up) == ["baas.ping"]
    assert not OutboxMessage.objects.exists()


def test_work_of_a_rolled_back_transaction_is_never_published(
    transactional_db, broker_up
):
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.enqueue("baas.ping")
        raise RuntimeError("the request failed")
    assert queued_tasks(broker_up) == []
    assert not OutboxMessage.objects.exists()


def test_a_sign_up_while_the_broker_is_down_answers_as_usual_and_keeps_its_mail(
    transactional_db, broker_down
):
    response = sign_up("kept@example.com")
    assert response.status_code == 401, response.content
    (kept,) = OutboxMessage.objects.all()
    assert (kept.task, kept.attempts) == ("baas.core.send_email", 1)
    assert kept.args[0]["to"] == ["kept@example.com"]
    assert mail.outbox == []


def test_kept_mail_is_sent_by_the_next_delivery_run(transactional_db, broker_down):
    sign_up("later@example.com")
    assert outbox.deliver() == 0  # still down: kept, one more attempt counted
    assert OutboxMessage.objects.get().attempts == 2

    use_broker(None)  # back (and running tasks inline)
    assert outbox.deliver() == 1
    assert [m.to for m in mail.outbox] == [["later@example.com"]]
    assert not OutboxMessage.objects.exists()


def test_a_delivery_run_leaves_fresh_untried_rows_to_their_request(
    transactional_db, broker_up
):
    OutboxMessage.objects.create(task="baas.ping")  # committed, its publish not yet run
    assert outbox.deliver() == 0
    assert OutboxMessage.objects.count() == 1


def test_the_first_publish_after_a_failure_asks_for_a_delivery_run(
    transactional_db, broker_down
):
    outbox.enqueue("baas.ping")
    assert OutboxMessage.objects.get().attempts == 1
    original = app.conf.broker_url
    use_broker("memory://")
    try:
        with app.connection_for_write() as conn:
            queue = conn.SimpleQueue(app.conf.task_default_queue)
            queue.clear()
            outbox.enqueue("baas.ping")
            assert queued_tasks(queue) == ["baas.ping", outbox.DELIVER_TASK]
            queue.close()
    finally:
        app.conf.broker_url = original
    assert (
        OutboxMessage.objects.count() == 1
    )  # the first: the delivery run's to publish
