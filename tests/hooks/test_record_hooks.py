"""`before` and `after` hooks around record writes: API, batch and service writes alike."""

from __future__ import annotations

import pytest

from apps.hooks import registry
from apps.records.records import record_create
from baas.hooks import Reject, after, before
from tests.records.test_records_crud import create_collection, records_url

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hooks():
    with registry.isolated() as fresh:
        yield fresh


@pytest.fixture
def posts(schema_db, admin):
    create_collection(
        admin,
        "posts",
        [
            {"name": "title", "type": "text", "options": {"max": 20}},
            {"name": "score", "type": "number"},
            {
                "name": "owner",
                "type": "relation",
                "options": {"collection": "users"},
                "rules": {"write": "@request.auth.email = 'nobody@example.com'"},
            },
        ],
    )
    response = admin.patch(
        "/api/v1/collections/posts",
        {
            "rules": {
                "list": "",
                "view": "",
                "create": "@request.auth.id != ''",
                "update": "@request.auth.id != ''",
                "delete": "@request.auth.id != ''",
            }
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    return "posts"


def test_a_before_hook_changes_what_is_stored(hooks, posts, user_client, app_user):
    @before("create", "posts")
    def tidy(event):
        event.data["title"] = event.data["title"].strip().upper()
        event.data["owner"] = event.auth.id  # a field the client may not write

    response = user_client.post(records_url("posts"), {"title": "  hi "}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["title"] == "HI"
    assert response.json()["owner"] == str(app_user.pk)


def test_the_client_still_may_not_write_a_field_its_rules_forbid(
    hooks, posts, user_client, app_user
):
    @before("create", "posts")
    def nothing(event):
        pass

    response = user_client.post(
        records_url("posts"), {"title": "x", "owner": str(app_user.pk)}, format="json"
    )
    assert response.status_code == 403, response.content


def test_what_a_before_hook_writes_is_validated(hooks, posts, user_client, admin):
    @before("create", "posts")
    def too_long(event):
        event.data["title"] = "x" * 50

    response = user_client.post(records_url("posts"), {"title": "ok"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["param"] == "title"
    assert admin.get(records_url("posts")).json()["items"] == []


def test_reject_becomes_the_error_envelope_and_nothing_is_written(
    hooks, posts, user_client, admin
):
    @before("create", "posts")
    def no_spam(event):
        if "spam" in event.data.get("title", ""):
            raise Reject("spam", "No spam here.", param="title")

    @before("update", "posts")
    def locked(event):
        raise Reject("locked", "Locked.", status=409)

    response = user_client.post(records_url("posts"), {"title": "spam!"}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "status": 400,
        "errors": [{"code": "spam", "message": "No spam here.", "param": "title"}],
    }
    assert admin.get(records_url("posts")).json()["items"] == []
    created = user_client.post(records_url("posts"), {"title": "fine"}, format="json")
    record_id = created.json()["id"]
    response = user_client.patch(
        records_url("posts", record_id), {"title": "new"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "locked"
    assert admin.get(records_url("posts", record_id)).json()["title"] == "fine"


def test_before_update_and_delete_see_the_stored_record(
    hooks, posts, user_client, admin
):
    seen = []

    @before("update", "posts")
    def on_update(event):
        seen.append(("update", event.old["title"], dict(event.data)))

    @before("delete", "posts")
    def on_delete(event):
        seen.append(("delete", event.old["title"], event.data))
        raise Reject("keep", "Kept.")

    record_id = user_client.post(
        records_url("posts"), {"title": "one"}, format="json"
    ).json()["id"]
    user_client.patch(records_url("posts", record_id), {"title": "two"}, format="json")
    response = user_client.delete(records_url("posts", record_id))
    assert response.status_code == 400
    assert seen == [("update", "one", {"title": "two"}), ("delete", "two", None)]
    assert admin.get(records_url("posts", record_id)).status_code == 200


def test_a_caller_the_rules_refuse_never_reaches_a_before_hook(
    hooks, posts, anon, user_client
):
    called = []

    @before("create", "posts")
    def create(event):
        called.append(event)

    @before("update", "posts")
    def update(event):
        called.append(event)

    record_id = user_client.post(
        records_url("posts"), {"title": "a"}, format="json"
    ).json()["id"]
    called.clear()
    assert anon.post(
        records_url("posts"), {"title": "b"}, format="json"
    ).status_code in (
        401,
        403,
    )
    assert anon.patch(
        records_url("posts", record_id), {"title": "c"}, format="json"
    ).status_code in (401, 403, 404)
    assert called == []


def test_batch_and_service_writes_run_the_same_hooks(hooks, posts, user_client, admin):
    @before("create", "*")
    def stamp(event):
        if event.collection == "posts":
            event.data["score"] = 7

    response = user_client.post(
        "/api/v1/batch",
        {
            "requests": [
                {
                    "method": "POST",
                    "url": "/collections/posts/records",
                    "body": {"title": "b"},
                }
            ]
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    from apps.accounts.models import User
    from tests.conftest import ADMIN_EMAIL

    record = record_create(
        actor=User.objects.get(email=ADMIN_EMAIL),
        collection="posts",
        data={"title": "s"},
    )
    assert record["score"] == 7
    scores = {
        r["title"]: r["score"] for r in admin.get(records_url("posts")).json()["items"]
    }
    assert scores == {"b": 7, "s": 7}


def test_after_hooks_run_once_the_write_commits_with_the_change(
    hooks, posts, user_client, app_user
):
    events = []

    @after("create", "posts")
    def created(event):
        events.append(event)

    @after("update", "posts")
    def updated(event):
        events.append(event)

    @after("delete", "posts")
    def deleted(event):
        events.append(event)

    record_id = user_client.post(
        records_url("posts"), {"title": "a"}, format="json"
    ).json()["id"]
    user_client.patch(records_url("posts", record_id), {"title": "b"}, format="json")
    user_client.delete(records_url("posts", record_id))
    assert [e.action for e in events] == ["create", "update", "delete"]
    create, update, delete = events
    assert create.data["title"] == "a" and create.old is None
    assert update.data["title"] == "b" and update.old["title"] == "a"
    assert delete.data is None and delete.old["title"] == "b"
    assert create.auth.id == str(app_user.pk) and create.auth.kind == "user"
    assert len({e.token for e in events}) == 3 and all(e.token for e in events)


def test_a_write_that_fails_runs_no_after_hook(hooks, posts, user_client):
    events = []

    @after("create", "posts")
    def created(event):
        events.append(event)

    @before("create", "posts")
    def refuse(event):
        if event.data["title"] == "no":
            raise Reject("no", "No.")

    user_client.post(records_url("posts"), {"title": "no"}, format="json")
    user_client.post(records_url("posts"), {"title": "x" * 50}, format="json")
    assert events == []
