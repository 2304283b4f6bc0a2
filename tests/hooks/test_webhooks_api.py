"""/api/v1/webhooks: who may manage webhooks (a scenario table over every endpoint),
validation (events, filter, url, properties) as 400s naming the parameter, the secret
shown once, the delivery log (newest first, by state, paged), redelivery, the audit
entries, and the OpenAPI document."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone
from openapi_spec_validator import validate

from apps.hooks import webhook_delivery
from apps.hooks.models import AuditEntry, Webhook, WebhookDelivery
from tests.hooks import webhook_helpers
from tests.hooks.webhook_helpers import (
    WEBHOOKS,
    create_webhook,
    deliveries,
)
from tests.records.test_records_crud import records_url

# fixtures shared by the webhook tests
eager_errors = webhook_helpers.eager_errors
posts = webhook_helpers.posts
private_allowed = webhook_helpers.private_allowed
receiver = webhook_helpers.receiver

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("private_allowed", "eager_errors"),
]


@pytest.fixture
def world(admin, posts, receiver):
    """A webhook with one delivery."""
    created = create_webhook(admin, receiver.url)
    receiver.secret = created["secret"]
    assert admin.post(records_url("posts"), {"title": "a"}, format="json").status_code
    (delivery,) = deliveries()
    return {"webhook": created["id"], "delivery": delivery.pk, "url": receiver.url}


# --- access: actor x endpoint -----------------------------------------------------------

ENDPOINTS = [
    # (method, path, body, status when allowed); delete last: it removes the webhook
    ("get", "/webhooks", None, 200),
    ("post", "/webhooks", {"events": ["posts.create"]}, 201),
    ("get", "/webhooks/{webhook}", None, 200),
    ("patch", "/webhooks/{webhook}", {"active": True}, 200),
    ("get", "/webhooks/{webhook}/deliveries", None, 200),
    ("get", "/webhooks/{webhook}/deliveries/{delivery}", None, 200),
    ("post", "/webhooks/{webhook}/deliveries/{delivery}/retry", None, 202),
    ("delete", "/webhooks/{webhook}", None, 204),
]
ACTORS = [
    # (actor, expected status for every endpoint; None: the endpoint's own)
    ("anonymous", 401),
    ("app user", 403),
    ("key without the webhooks scope", 403),
    ("key with the webhooks scope", None),
    ("superuser", None),
]


@pytest.fixture
def as_actor(anon, user_client, key_client, admin):
    return {
        "anonymous": lambda: anon,
        "app user": lambda: user_client,
        "key without the webhooks scope": lambda: key_client(
            "schema", "records:read", "records:write", "jobs", "push:send"
        ),
        "key with the webhooks scope": lambda: key_client("webhooks"),
        "superuser": lambda: admin,
    }


@pytest.mark.parametrize("actor, expected", ACTORS)
def test_who_may_use_each_webhook_endpoint(world, as_actor, actor, expected):
    client = as_actor[actor]()
    for method, path, body, allowed in ENDPOINTS:
        if body is not None and "events" in body:
            body = {**body, "url": world["url"]}
        url = "/api/v1" + path.format(**world)
        response = getattr(client, method)(url, body, format="json")
        want = allowed if expected is None else expected
        assert response.status_code == want, (method, path, response.content)
        if expected is not None:
            assert set(response.json()) == {"status", "errors"}
            assert "secret" not in response.content.decode()
    if expected is not None:
        assert Webhook.objects.filter(pk=world["webhook"]).exists()
        assert Webhook.objects.count() == 1


# --- creating, reading, changing ----------------------------------------------------------


def test_the_secret_is_shown_once_and_never_again(admin, posts, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    created = create_webhook(admin, receiver.url, events=["posts.*"])
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(secret) >= 30
    receiver.secret = secret
    webhook_id = created["id"]
    admin.post(records_url("posts"), {"title": "a"}, format="json")
    (delivery,) = deliveries()
    base = f"{WEBHOOKS}/{webhook_id}"
    answers = [
        admin.get(WEBHOOKS),
        admin.get(base),
        admin.patch(base, {"filter": "title != ''"}, format="json"),
        admin.get(f"{base}/deliveries"),
        admin.get(f"{base}/deliveries/{delivery.pk}"),
        admin.post(f"{base}/deliveries/{delivery.pk}/retry"),
        admin.get("/api/v1/audit"),
        admin.get("/api/v1/schema"),
    ]
    key = secret.removeprefix("whsec_")
    for response in answers:
        assert response.status_code < 300, response.content
        assert key not in response.content.decode()
        assert "secret" not in response.content.decode()
    assert key not in caplog.text
    assert receiver.verified()  # the deliveries were signed with it all along


def test_a_webhook_reads_back_as_created(admin, posts, receiver):
    created = create_webhook(
        admin,
        receiver.url,
        events=[
            "posts.create",
            "POSTS.update",
            "posts.create",
            "push.message.finished",
        ],
        filter="score > 2",
    )
    shown = admin.get(f"{WEBHOOKS}/{created['id']}").json()
    assert shown == {k: v for k, v in created.items() if k != "secret"}
    assert shown["events"] == ["posts.create", "posts.update", "push.message.finished"]
    assert shown["filter"] == "score > 2" and shown["active"] is True
    assert shown["failing_since"] is None and shown["disabled_at"] is None
    assert admin.get(WEBHOOKS).json() == {"items": [shown]}


@pytest.mark.parametrize(
    "body, param, text",
    [
        ({"events": ["nothere.create"]}, "events", "no collection named"),
        ({"events": ["posts.publish"]}, "events", "Unknown event"),
        ({"events": ["posts"]}, "events", "Unknown event"),
        ({"events": []}, "events", "at least one"),
        ({"events": "posts.create"}, "events", "list"),
        ({"events": [1]}, "events", "names"),
        ({"url": "ftp://example.com/hook"}, "url", "http"),
        ({"url": "https://user:pw@example.com/hook"}, "url", "password"),
        ({"url": None}, "url", "needs a url"),
        ({"url": "http:///nohost"}, "url", "no host"),
        ({"filter": "title = "}, "filter", "position"),
        ({"filter": "nope = 1"}, "filter", "nope"),
        ({"filter": "@request.auth.id != ''"}, "filter", "@request"),
        ({"filter": 5}, "filter", "expression"),
        (
            {"events": ["push.message.finished"], "filter": "title = 'a'"},
            "filter",
            "record events",
        ),
        ({"secret": "whsec_bWluZQ=="}, "secret", "made by the server"),
        ({"name": "x"}, "name", "Unknown webhook property"),
        ({"active": "yes"}, "active", "true or false"),
    ],
)
def test_bad_webhooks_are_400_naming_the_parameter(
    admin, posts, receiver, body, param, text
):
    response = admin.post(
        WEBHOOKS, {"url": receiver.url, "events": ["posts.*"], **body}, format="json"
    )
    assert response.status_code == 400, response.content
    (error,) = response.json()["errors"]
    assert error["param"] == param
    assert text in error["message"]
    assert not Webhook.objects.exists()


def test_a_filter_must_fit_every_collection_its_events_name(admin, posts, receiver):
    created = create_webhook(
        admin, receiver.url, events=["posts.*"], filter="score > 1"
    )
    response = admin.patch(
        f"{WEBHOOKS}/{created['id']}", {"events": ["users.create"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["param"] == "filter"
    assert Webhook.objects.get().events == ["posts.*"]


def test_changes_are_patched_and_404_for_what_does_not_exist(admin, world):
    base = f"{WEBHOOKS}/{world['webhook']}"
    changed = admin.patch(
        base, {"events": ["posts.delete"], "filter": None}, format="json"
    ).json()
    assert changed["events"] == ["posts.delete"] and changed["filter"] is None
    missing = f"{WEBHOOKS}/aaaaaaaaaaaaaaa"
    for response in (
        admin.get(missing),
        admin.patch(missing, {"active": False}, format="json"),
        admin.delete(missing),
        admin.get(f"{missing}/deliveries"),
        admin.get(f"{WEBHOOKS}/not-an-id"),
        admin.get(f"{base}/deliveries/aaaaaaaaaaaaaaa"),
        admin.post(f"{base}/deliveries/aaaaaaaaaaaaaaa/retry"),
    ):
        assert response.status_code == 404, response.content
        assert response.json()["errors"][0]["code"] in (
            "webhook_not_found",
            "delivery_not_found",
            "not_found",
        )


def test_a_delivery_is_only_found_under_its_own_webhook(admin, world, receiver):
    other = create_webhook(admin, receiver.url, events=["users.*"])
    url = f"{WEBHOOKS}/{other['id']}/deliveries/{world['delivery']}"
    assert admin.get(url).status_code == 404
    assert admin.post(f"{url}/retry").status_code == 404


def test_deleting_a_webhook_drops_its_deliveries(admin, world):
    assert admin.delete(f"{WEBHOOKS}/{world['webhook']}").status_code == 204
    assert not WebhookDelivery.objects.exists()
    assert admin.get(f"{WEBHOOKS}/{world['webhook']}").status_code == 404


# --- the delivery log -------------------------------------------------------------------


def test_the_delivery_log_is_newest_first_by_state_and_paged(admin, world, receiver):
    receiver.answers = [500, 500]
    for title in ("b", "c"):
        admin.post(records_url("posts"), {"title": title}, format="json")
    base = f"{WEBHOOKS}/{world['webhook']}/deliveries"
    items = admin.get(base).json()["items"]
    assert len(items) == 3
    titles = []
    for item in items:
        payload = admin.get(f"{base}/{item['id']}").json()["payload"]
        titles.append(payload["data"]["record"]["title"])
    assert titles == ["c", "b", "a"]
    failing = items[0]
    assert failing["state"] == "pending" and failing["status_code"] == 500
    assert failing["attempts"] == 1 and failing["next_attempt_at"] is not None
    assert failing["last_error"].startswith("HTTP 500")
    assert isinstance(failing["latency_ms"], int)
    assert items[2]["state"] == "succeeded" and items[2]["next_attempt_at"] is None
    assert items[2]["delivered_at"] is not None and items[2]["type"] == "posts.create"

    pending = admin.get(base, {"state": "pending"}).json()["items"]
    assert [i["id"] for i in pending] == [items[0]["id"], items[1]["id"]]

    first = admin.get(base, {"limit": 2}).json()
    assert [i["id"] for i in first["items"]] == [items[0]["id"], items[1]["id"]]
    second = admin.get(base, {"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [i["id"] for i in second["items"]] == [items[2]["id"]]
    assert second["next_cursor"] is None

    for params, param in (
        ({"state": "lost"}, "state"),
        ({"limit": "0"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"cursor": "nonsense"}, "cursor"),
    ):
        response = admin.get(base, params)
        assert response.status_code == 400, params
        assert response.json()["errors"][0]["param"] == param


def test_the_lists_cost_the_same_queries_however_long(admin, world, receiver):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin.get(url).status_code == 200
        return len(captured)

    deliveries_url = f"{WEBHOOKS}/{world['webhook']}/deliveries"
    short = queries(deliveries_url), queries(WEBHOOKS)
    for title in "bcdefg":
        admin.post(records_url("posts"), {"title": title}, format="json")
    create_webhook(admin, receiver.url, events=["users.*"])
    assert len(admin.get(deliveries_url).json()["items"]) == 7
    assert (queries(deliveries_url), queries(WEBHOOKS)) == short


def test_retrying_a_delivery_of_an_inactive_webhook_is_409(admin, world):
    base = f"{WEBHOOKS}/{world['webhook']}"
    admin.patch(base, {"active": False}, format="json")
    response = admin.post(f"{base}/deliveries/{world['delivery']}/retry")
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "webhook_inactive"


# --- the audit log ------------------------------------------------------------------------


def test_webhook_changes_are_in_the_audit_log_without_the_secret(
    admin, posts, receiver, settings
):
    created = create_webhook(admin, receiver.url)
    base = f"{WEBHOOKS}/{created['id']}"
    admin.patch(base, {"filter": "score > 1"}, format="json")
    admin.patch(base, {"filter": "score > 1"}, format="json")  # no change: no entry
    settings.BAAS_WEBHOOK_DISABLE_AFTER = 1
    receiver.answers = [500] * 10
    Webhook.objects.update(failing_since=timezone.now() - timedelta(days=1))
    admin.post(records_url("posts"), {"title": "x", "score": 5}, format="json")
    assert not Webhook.objects.get().active  # disabled by the server
    admin.delete(base)

    found = list(
        AuditEntry.objects.filter(action__startswith="webhook.").order_by("at", "id")
    )
    assert [e.action for e in found] == [
        "webhook.create",
        "webhook.update",
        "webhook.update",
        "webhook.delete",
    ]
    create, change, disable, delete = found
    assert create.after["url"] == receiver.url and create.before is None
    assert change.diff == {"filter": {"before": None, "after": "score > 1"}}
    assert (change.actor_kind, disable.actor_kind) == ("user", "system")
    assert disable.diff["active"] == {"before": True, "after": False}
    assert delete.after is None and delete.target_id == created["id"]
    key = created["secret"].removeprefix("whsec_")
    for entry in found:
        for snapshot in (entry.before, entry.after, entry.diff):
            assert key not in str(snapshot) and "secret" not in str(snapshot)


# --- OpenAPI ------------------------------------------------------------------------------


def test_the_webhook_endpoints_are_in_the_openapi_document(anon):
    document = anon.get("/api/v1/openapi.json").json()
    validate(document)
    paths = document["paths"]
    assert set(paths["/api/v1/webhooks"]) == {"get", "post"}
    assert set(paths["/api/v1/webhooks/{webhook_id}"]) == {"get", "patch", "delete"}
    deliveries_path = paths["/api/v1/webhooks/{webhook_id}/deliveries"]["get"]
    assert {p["name"] for p in deliveries_path["parameters"]} == {
        "webhook_id",
        "state",
        "limit",
        "cursor",
    }
    retry = paths["/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry"]
    assert "202" in retry["post"]["responses"]
    created = paths["/api/v1/webhooks"]["post"]["responses"]["201"]
    schema = created["content"]["application/json"]["schema"]
    assert "secret" in schema["required"]
    assert webhook_delivery.MAX_ATTEMPTS == 9
