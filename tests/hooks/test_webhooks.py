"""Webhook deliveries: signed with the Standard Webhooks scheme and carrying API.md's
body, filtered, in order per record, retried with backoff, given up, endpoints disabled
after sustained failure, sent again by hand, never for a write that rolled back and never
lost when the broker is down. A real HTTP receiver on 127.0.0.1 checks every signature."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from apps.core.models import OutboxMessage
from apps.hooks import webhook_delivery, webhooks
from apps.hooks.models import Webhook, WebhookDelivery
from apps.records.records import record_create
from tests.core import test_outbox
from tests.core.test_outbox import use_broker
from tests.hooks import webhook_helpers
from tests.hooks.webhook_helpers import (
    WEBHOOKS,
    create_webhook,
    deliveries,
    recently,
    sweep_until_quiet,
    time_passes,
)
from tests.records.test_records_crud import records_url

# fixtures shared by the webhook tests
eager_errors = webhook_helpers.eager_errors
posts = webhook_helpers.posts
private_allowed = webhook_helpers.private_allowed
receiver = webhook_helpers.receiver
broker_down = test_outbox.broker_down

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("private_allowed", "eager_errors"),
]
RFC3339_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture
def hook(admin, posts, receiver):
    """A webhook on every posts event, pointing at the receiver."""
    created = create_webhook(admin, receiver.url, events=["posts.*"])
    receiver.secret = created["secret"]
    return created


def write(admin, title: str = "a", **fields) -> dict:
    response = admin.post(
        records_url("posts"), {"title": title, **fields}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def update(admin, record_id: str, **fields) -> dict:
    response = admin.patch(records_url("posts", record_id), fields, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def delete(admin, record_id: str) -> None:
    assert admin.delete(records_url("posts", record_id)).status_code == 204


# --- what is sent ---------------------------------------------------------------------


def test_create_update_and_delete_arrive_signed_with_the_api_body(
    admin, hook, receiver
):
    created = write(admin, "first", score=1)
    updated = update(admin, created["id"], title="second")
    delete(admin, created["id"])

    create, change, gone = receiver.verified()  # raises unless each signature holds
    assert [r.type for r in (create, change, gone)] == [
        "posts.create",
        "posts.update",
        "posts.delete",
    ]
    assert create.verified["data"] == {"record": created}
    assert change.verified["data"] == {"record": updated, "old": created}
    assert gone.verified["data"] == {"record": updated}  # the record as it was
    for request in (create, change, gone):
        assert set(request.verified) == {"type", "timestamp", "data"}
        assert RFC3339_MS.fullmatch(request.verified["timestamp"])
        assert request.headers["content-type"] == "application/json"
        assert request.headers["webhook-signature"].startswith("v1,")
        assert abs(int(request.headers["webhook-timestamp"]) - time_now()) < 60
    ids = [r.id for r in (create, change, gone)]
    assert len(set(ids)) == 3
    assert {d.pk for d in deliveries()} == set(ids)  # webhook-id is the delivery id
    assert all(d.state == "succeeded" and d.attempts == 1 for d in deliveries())
    assert all(d.status_code == 200 and d.latency_ms is not None for d in deliveries())


def time_now() -> int:
    return int(timezone.now().timestamp())


def test_service_and_batch_writes_are_delivered_too(admin, hook, receiver, superuser):
    record_create(actor=superuser, collection="posts", data={"title": "service"})
    response = admin.post(
        "/api/v1/batch",
        {
            "requests": [
                {"method": "POST", "url": "/collections/posts/records", "body": {}}
            ]
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    assert receiver.types() == ["posts.create", "posts.create"]


def test_events_choose_the_actions(admin, posts, receiver):
    created = create_webhook(admin, receiver.url, events=["posts.delete"])
    receiver.secret = created["secret"]
    record = write(admin)
    update(admin, record["id"], title="b")
    assert receiver.requests == []
    delete(admin, record["id"])
    assert receiver.types() == ["posts.delete"]


def test_users_events_cover_the_users_collection(admin, receiver, schema_db):
    created = create_webhook(admin, receiver.url, events=["users.*"])
    receiver.secret = created["secret"]
    response = admin.post(
        "/api/v1/collections/users/records",
        {"email": "new@example.com", "password": "A-long-pass-phrase-1"},
        format="json",
    )
    assert response.status_code == 201, response.content
    (request,) = receiver.verified()
    assert request.type == "users.create"
    assert request.verified["data"]["record"]["email"] == "new@example.com"
    assert "password" not in request.verified["data"]["record"]


def test_records_deleted_by_a_cascade_are_delivered_each(admin, posts, receiver):
    from tests.records.test_records_crud import create_collection

    create_collection(
        admin,
        "comments",
        [
            {"name": "text", "type": "text"},
            {
                "name": "post",
                "type": "relation",
                "options": {"collection": "posts", "cascade_delete": True},
            },
        ],
    )
    created = create_webhook(admin, receiver.url, events=["comments.delete"])
    receiver.secret = created["secret"]
    post = write(admin, "p")
    for text in ("one", "two"):
        response = admin.post(
            records_url("comments"), {"text": text, "post": post["id"]}, format="json"
        )
        assert response.status_code == 201, response.content
    delete(admin, post["id"])
    gone = sorted(r.verified["data"]["record"]["text"] for r in receiver.verified())
    assert gone == ["one", "two"]
    assert {r.type for r in receiver.requests} == {"comments.delete"}


def test_the_filter_decides_which_records_are_delivered(admin, posts, receiver):
    created = create_webhook(
        admin, receiver.url, events=["posts.*"], filter="status = 'open' && score >= 3"
    )
    receiver.secret = created["secret"]
    write(admin, "closed", status="closed", score=5)
    low = write(admin, "low", status="open", score=1)
    high = write(admin, "high", status="open", score=4)
    update(admin, low["id"], score=3)  # now it matches
    update(admin, high["id"], score=0)  # no longer
    delete(admin, low["id"])  # tested on the record as it was: matches
    assert [
        (r.type, r.verified["data"]["record"]["title"]) for r in receiver.verified()
    ] == [
        ("posts.create", "high"),
        ("posts.update", "low"),
        ("posts.delete", "low"),
    ]


def test_a_webhook_sees_only_writes_after_it_and_none_after_its_deletion(
    admin, posts, receiver
):
    write(admin, "before")
    created = create_webhook(admin, receiver.url)
    receiver.secret = created["secret"]
    write(admin, "during")
    assert admin.delete(f"{WEBHOOKS}/{created['id']}").status_code == 204
    write(admin, "after")
    assert [r.verified["data"]["record"]["title"] for r in receiver.verified()] == [
        "during"
    ]


def test_subscriptions_cost_no_query_while_nothing_changes(
    admin, posts, receiver, django_assert_num_queries
):
    from apps.collections.services import get_spec

    spec = get_spec("posts")
    webhooks.subscribed("create", spec)
    with django_assert_num_queries(0):
        for _ in range(100):
            assert not webhooks.subscribed("create", spec)
    create_webhook(admin, receiver.url, events=["posts.update"])
    fresh = get_spec("posts")
    assert fresh is not spec  # the webhook moved the collection's stamp
    assert webhooks.subscribed("update", fresh)
    with django_assert_num_queries(0):
        assert not webhooks.subscribed("create", fresh)


def test_a_paused_webhook_gets_nothing_until_it_is_active_again(admin, hook, receiver):
    url = f"{WEBHOOKS}/{hook['id']}"
    assert admin.patch(url, {"active": False}, format="json").status_code == 200
    write(admin, "paused")
    assert receiver.requests == [] and deliveries() == []
    assert admin.patch(url, {"active": True}, format="json").status_code == 200
    write(admin, "back")
    assert [r.verified["data"]["record"]["title"] for r in receiver.verified()] == [
        "back"
    ]


# --- failures, retries, order -----------------------------------------------------------


def test_a_failed_attempt_is_retried_with_backoff_and_succeeds_later(
    admin, hook, receiver
):
    receiver.answers = [500]
    before = timezone.now()
    write(admin)
    (delivery,) = deliveries()
    assert (delivery.state, delivery.attempts, delivery.status_code) == (
        "pending",
        1,
        500,
    )
    assert delivery.last_error.startswith("HTTP 500")
    wait = (delivery.next_attempt_at - before).total_seconds()
    assert (
        webhook_delivery.RETRY_SCHEDULE[0]
        <= wait
        < webhook_delivery.RETRY_SCHEDULE[0] + 5
    )

    assert webhook_delivery.sweep() == 0  # not due yet
    time_passes()
    assert webhook_delivery.sweep() == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.status_code) == (
        "succeeded",
        2,
        200,
    )
    assert delivery.next_attempt_at is None and delivery.last_error == ""
    first, second = receiver.verified()
    assert first.id == second.id == delivery.pk  # the same webhook-id on a retry
    assert first.body == second.body


def test_retries_follow_the_schedule_then_the_delivery_is_given_up(
    admin, hook, receiver
):
    receiver.answers = [503] * webhook_delivery.MAX_ATTEMPTS
    write(admin)
    (delivery,) = deliveries()
    waits = []
    for _ in range(webhook_delivery.MAX_ATTEMPTS - 1):
        delivery.refresh_from_db()
        assert delivery.state == "pending"
        waits.append(
            round((delivery.next_attempt_at - delivery.last_attempt_at).total_seconds())
        )
        time_passes()
        webhook_delivery.sweep()
    delivery.refresh_from_db()
    assert list(webhook_delivery.RETRY_SCHEDULE) == waits
    assert sum(waits) >= 24 * 3600  # retried for at least a day
    assert (delivery.state, delivery.attempts) == (
        "failed",
        webhook_delivery.MAX_ATTEMPTS,
    )
    assert delivery.next_attempt_at is None
    time_passes()
    assert webhook_delivery.sweep() == 0
    assert len(receiver.requests) == webhook_delivery.MAX_ATTEMPTS


def test_deliveries_of_one_record_go_out_in_order_when_the_first_fails(
    admin, hook, receiver
):
    failures = iter([500, 500])  # the record's first delivery fails twice
    receiver.status_for = lambda request: (
        next(failures, 200) if b'"title":"v1"' in request.body else 200
    )
    record = write(admin, "v1")
    update(admin, record["id"], title="v2")
    update(admin, record["id"], title="v3")
    other = write(admin, "other")  # another record is not held up
    assert [r.type for r in receiver.verified()] == ["posts.create", "posts.create"]
    assert receiver.requests[1].verified["data"]["record"]["id"] == other["id"]
    states = [d.state for d in deliveries(record_id=record["id"])]
    assert states == ["pending", "pending", "pending"]

    time_passes()
    webhook_delivery.sweep()  # the first fails again; the later ones still wait
    assert len(receiver.requests) == 3
    assert [d.attempts for d in deliveries(record_id=record["id"])] == [2, 0, 0]

    time_passes()
    webhook_delivery.sweep()  # the first succeeds, then the others follow in order
    titles = [
        (r.type, r.verified["data"]["record"]["title"])
        for r in receiver.verified()
        if r.verified["data"]["record"]["id"] == record["id"]
    ]
    assert titles == [
        ("posts.create", "v1"),
        ("posts.create", "v1"),
        ("posts.create", "v1"),
        ("posts.update", "v2"),
        ("posts.update", "v3"),
    ]
    assert all(d.state == "succeeded" for d in deliveries())


def test_a_given_up_delivery_lets_the_next_of_its_record_go(admin, hook, receiver):
    receiver.answers = [500] * webhook_delivery.MAX_ATTEMPTS
    record = write(admin, "v1")
    update(admin, record["id"], title="v2")
    sweep_until_quiet()
    first, second = deliveries()
    assert (first.state, second.state) == ("failed", "succeeded")
    assert receiver.types()[-1] == "posts.update"


def test_a_delivery_is_sent_once_however_many_tasks_run(admin, hook, receiver):
    write(admin)
    (delivery,) = deliveries()
    assert webhook_delivery.deliver(delivery.pk) == "done"  # succeeded: never again
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        state="delivering", next_attempt_at=timezone.now() + timedelta(minutes=1)
    )
    assert webhook_delivery.deliver(delivery.pk) == "taken"  # another worker has it
    assert webhook_delivery.sweep() == 0  # its lease is still running
    assert len(receiver.requests) == 1


def test_two_workers_running_the_same_delivery_at_once_send_it_once(
    admin, hook, receiver
):
    import threading

    from django.db import connection

    receiver.answers = [500]  # the first attempt fails: the retry is what they race for
    write(admin)
    (delivery,) = deliveries()
    time_passes()

    def answer_slowly(handler):
        time.sleep(0.5)  # both workers are in flight by now
        handler.send_response(200)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    receiver.handler = answer_slowly
    results = []

    def worker():
        try:
            results.append(webhook_delivery.deliver(delivery.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results) == ["succeeded", "taken"]
    assert len(receiver.requests) == 2  # the first attempt and one retry
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("succeeded", 2)


def test_an_attempt_whose_worker_died_is_sent_again_after_its_lease(
    admin, hook, receiver
):
    receiver.answers = [500]
    write(admin)
    (delivery,) = deliveries()
    # a worker claimed the retry, then was killed before it could record anything
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        state="delivering",
        attempts=2,
        next_attempt_at=timezone.now() - timedelta(seconds=1),
    )
    assert webhook_delivery.sweep() == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("succeeded", 3)


# --- disabling, redelivery --------------------------------------------------------------


def test_an_endpoint_failing_for_too_long_is_disabled_and_shown_so(
    admin, hook, receiver, settings
):
    settings.BAAS_WEBHOOK_DISABLE_AFTER = 3600
    receiver.answers = [500] * 100
    record = write(admin, "a")
    webhook = Webhook.objects.get()
    assert webhook.failing_since is not None and webhook.active
    update(admin, record["id"], title="b")  # waits behind the first
    Webhook.objects.update(failing_since=timezone.now() - timedelta(hours=2))
    time_passes()
    webhook_delivery.sweep()  # fails again, an hour after failing began: disabled

    shown = admin.get(f"{WEBHOOKS}/{hook['id']}").json()
    assert shown["active"] is False
    assert recently(shown["disabled_at"])
    assert "BAAS_WEBHOOK_DISABLE_AFTER" in shown["disabled_reason"]
    assert [d.state for d in deliveries()] == ["failed", "failed"]
    assert deliveries()[1].last_error == webhook_delivery.DISABLED_ERROR
    sent = len(receiver.requests)
    write(admin, "while disabled")
    time_passes()
    webhook_delivery.sweep()
    assert len(receiver.requests) == sent and len(deliveries()) == 2

    receiver.answers = []
    enabled = admin.patch(
        f"{WEBHOOKS}/{hook['id']}", {"active": True}, format="json"
    ).json()
    assert enabled["active"] is True
    assert enabled["disabled_at"] is None and enabled["disabled_reason"] is None
    assert enabled["failing_since"] is None
    write(admin, "enabled again")
    assert (
        receiver.verified()[-1].verified["data"]["record"]["title"] == "enabled again"
    )


def test_a_success_clears_the_failure_record(admin, hook, receiver):
    receiver.answers = [500]
    write(admin)
    assert Webhook.objects.get().failing_since is not None
    sweep_until_quiet()
    assert Webhook.objects.get().failing_since is None


def test_a_delivery_can_be_sent_again_by_hand(admin, hook, receiver):
    receiver.answers = [500] * webhook_delivery.MAX_ATTEMPTS
    write(admin)
    sweep_until_quiet()
    (delivery,) = deliveries()
    assert delivery.state == "failed"
    url = f"{WEBHOOKS}/{hook['id']}/deliveries/{delivery.pk}/retry"

    response = admin.post(url)
    assert response.status_code == 202, response.content
    assert response.json()["id"] == delivery.pk
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (
        "succeeded",
        webhook_delivery.MAX_ATTEMPTS + 1,
    )
    again = admin.post(url)  # a succeeded one too
    assert again.status_code == 202
    requests = receiver.verified()
    assert len(requests) == webhook_delivery.MAX_ATTEMPTS + 2
    assert {r.id for r in requests} == {delivery.pk}


# --- the outbox: commit, rollback, broker down ------------------------------------------


def test_a_write_that_rolls_back_makes_no_delivery(admin, hook, receiver, superuser):
    response = admin.post(
        "/api/v1/batch",
        {
            "requests": [
                {"method": "POST", "url": "/collections/posts/records", "body": {}},
                {"method": "POST", "url": "/collections/nothere/records", "body": {}},
            ]
        },
        format="json",
    )
    assert response.status_code == 404, response.content  # all or nothing
    with pytest.raises(RuntimeError), transaction.atomic():
        record_create(actor=superuser, collection="posts", data={"title": "x"})
        raise RuntimeError("the request failed after the write")
    assert receiver.requests == []
    assert not WebhookDelivery.objects.exists()
    assert not OutboxMessage.objects.exists()
    time_passes()
    assert webhook_delivery.sweep() == 0


def test_a_delivery_queued_while_the_broker_is_down_is_sent_when_it_is_back(
    admin,
    hook,
    receiver,
    broker_down,  # noqa: F811
):
    record = write(admin, "while down")
    (delivery,) = deliveries()
    assert delivery.state == "pending" and receiver.requests == []
    assert webhook_delivery.sweep() == 0  # its first publish may still be on its way

    use_broker(None)  # back (and running tasks inline, as the tests do)
    time_passes(webhook_delivery.lease_seconds())
    assert webhook_delivery.sweep() == 1
    (request,) = receiver.verified()
    assert request.verified["data"]["record"] == record
    delivery.refresh_from_db()
    assert delivery.state == "succeeded"
