"""POST /api/v1/batch: record operations in one transaction, all or nothing."""

from __future__ import annotations

import pytest

from apps.collections.dynamic import cache
from apps.collections.services import get_spec

BATCH = "/api/v1/batch"
NOTES = "/api/v1/collections/notes/records"


@pytest.fixture
def notes(schema_db, admin):
    fields = [{"name": "title", "type": "text", "options": {"max": 20}}]
    response = admin.post(
        "/api/v1/collections", {"name": "notes", "fields": fields}, format="json"
    )
    assert response.status_code == 201, response.content


def titles() -> list[str]:
    """What the table holds, read directly (not through the API)."""
    spec = get_spec("notes")
    column = spec.field_by_name("title").attname
    return sorted(cache.model_for(spec).objects.values_list(column, flat=True))


def create(client, title: str) -> dict:
    response = client.post(NOTES, {"title": title}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def run(client, *operations, **extra):
    return client.post(BATCH, {"requests": list(operations)}, format="json", **extra)


def op(method: str, url: str = NOTES, body=None) -> dict:
    item = {"method": method, "url": url}
    if body is not None:
        item["body"] = body
    return item


def error_of(response) -> tuple[int, str, str | None]:
    body = response.json()
    assert body["status"] == response.status_code
    (error,) = body["errors"]
    return response.status_code, error["code"], error.get("param")


# --- success ------------------------------------------------------------------------------------


def test_mixed_operations_run_in_order_and_answer_in_order(notes, admin):
    kept = create(admin, "kept")
    doomed = create(admin, "doomed")
    response = run(
        admin,
        op("POST", body={"title": "new"}),
        op("PATCH", f"{NOTES}/{kept['id']}", {"title": "changed"}),
        op("DELETE", f"/collections/notes/records/{doomed['id']}"),  # no /api/v1
        op("GET", f"{NOTES}/{kept['id']}"),
        op("get", "/api/v1/collections/notes/records?limit=10"),
    )
    assert response.status_code == 200, response.content
    results = response.json()["responses"]
    assert [r["status"] for r in results] == [201, 200, 204, 200, 200]
    created, patched, deleted, fetched, listed = (r["body"] for r in results)
    assert created["title"] == "new" and created["id"]
    assert patched["title"] == "changed" and patched["id"] == kept["id"]
    assert deleted is None
    assert fetched == patched
    assert {item["title"] for item in listed["items"]} == {"new", "changed"}
    assert titles() == ["changed", "new"]


def test_list_parameters_in_the_url_are_honoured(notes, admin):
    for title in ("a", "b", "c"):
        create(admin, title)
    response = run(admin, op("GET", f"{NOTES}?limit=2&count=true"))
    (result,) = response.json()["responses"]
    assert len(result["body"]["items"]) == 2
    assert result["body"]["next_cursor"] and result["body"]["total"] == 3


def test_a_batch_of_100_operations_is_accepted(notes, admin):
    operations = [op("POST", body={"title": f"n{i}"}) for i in range(100)]
    response = run(admin, *operations)
    assert response.status_code == 200, response.content
    assert [r["status"] for r in response.json()["responses"]] == [201] * 100
    assert len(titles()) == 100


# --- all or nothing ---------------------------------------------------------------------------


def test_an_invalid_operation_in_the_middle_leaves_nothing_written(notes, admin):
    response = run(
        admin,
        op("POST", body={"title": "first"}),
        op("POST", body={"title": "x" * 21}),
        op("POST", body={"title": "third"}),
    )
    assert error_of(response)[0::2] == (400, "requests.1.title")
    assert titles() == []


def test_a_failing_operation_undoes_earlier_updates_and_deletes(notes, admin):
    kept = create(admin, "kept")
    doomed = create(admin, "doomed")
    response = run(
        admin,
        op("PATCH", f"{NOTES}/{kept['id']}", {"title": "changed"}),
        op("DELETE", f"{NOTES}/{doomed['id']}"),
        op("GET", f"{NOTES}/nosuchrecord000"),
    )
    assert error_of(response) == (404, "record_not_found", "requests.2")
    assert titles() == ["doomed", "kept"]


def test_an_error_with_several_items_prefixes_each(notes, admin):
    response = run(admin, op("GET"), op("POST", body={"title": 5, "nosuchfield": 1}))
    assert response.status_code == 400
    params = {e["param"] for e in response.json()["errors"]}
    assert params and all(p.startswith("requests.1.") for p in params), params


def test_an_unknown_collection_is_404_for_that_operation(notes, admin):
    response = run(admin, op("GET"), op("GET", "/collections/nope/records"))
    assert error_of(response)[0::2] == (404, "requests.1")


# --- access: exactly what the single request would get ------------------------------------------

READ, WRITE = op("GET"), op("POST", body={"title": "sneaky"})


def single(client, operation):
    if operation["method"] == "GET":
        return client.get(operation["url"])
    return client.post(operation["url"], operation["body"], format="json")


@pytest.mark.parametrize(
    "who, operations",
    [
        ("anonymous", [READ]),
        ("anonymous", [WRITE]),
        ("app user", [READ]),
        ("app user", [WRITE]),
        ("read key", [READ, WRITE]),  # the read would pass; the write is refused
        ("schema key", [READ]),
    ],
)
def test_a_refused_operation_refuses_the_batch_as_the_single_request_would(
    notes, anon, user_client, key_client, who, operations
):
    client = {
        "anonymous": lambda: anon,
        "app user": lambda: user_client,
        "read key": lambda: key_client("records:read"),
        "schema key": lambda: key_client("schema"),
    }[who]()
    refused_at = len(operations) - 1
    alone = single(client, operations[refused_at])
    assert alone.status_code in (401, 403, 404), alone.content
    response = run(client, *operations)
    status, code, param = error_of(response)
    assert (status, code) == (alone.status_code, alone.json()["errors"][0]["code"])
    assert param == f"requests.{refused_at}"
    if status == 401:
        assert response["WWW-Authenticate"] == alone["WWW-Authenticate"]
    assert titles() == []


def test_a_key_with_records_write_may_write_through_a_batch(notes, key_client):
    response = run(key_client("records:write"), WRITE)
    assert response.status_code == 200, response.content
    assert titles() == ["sneaky"]


def test_a_read_key_may_read_through_a_batch(notes, admin, key_client):
    create(admin, "visible")
    response = run(key_client("records:read"), READ)
    assert response.status_code == 200, response.content
    (result,) = response.json()["responses"]
    assert [item["title"] for item in result["body"]["items"]] == ["visible"]


# --- shape ----------------------------------------------------------------------------------------

SHAPE_ERRORS = [
    # (body, status, code, param)
    ([], 400, "invalid", None),
    ("requests", 400, "invalid", None),
    ({}, 400, "required", "requests"),
    ({"requests": [READ], "atomic": True}, 400, "invalid", "atomic"),
    ({"requests": "all"}, 400, "invalid", "requests"),
    ({"requests": {"0": READ}}, 400, "invalid", "requests"),
    ({"requests": []}, 400, "invalid", "requests"),
    ({"requests": [READ] * 101}, 400, "too_many", "requests"),
    ({"requests": [1]}, 400, "invalid", "requests.0"),
    ({"requests": [READ, None]}, 400, "invalid", "requests.1"),
    ({"requests": [{"url": NOTES}]}, 400, "required", "requests.0.method"),
    ({"requests": [{"method": "GET"}]}, 400, "required", "requests.0.url"),
    ({"requests": [{"method": 1, "url": NOTES}]}, 400, "invalid", "requests.0.method"),
    ({"requests": [{"method": "GET", "url": ["x"]}]}, 400, "invalid", "requests.0.url"),
    ({"requests": [op("PUT", f"{NOTES}/abc")]}, 400, "invalid", "requests.0.method"),
    ({"requests": [op("PATCH", NOTES, {})]}, 400, "invalid", "requests.0.method"),
    ({"requests": [op("DELETE", NOTES)]}, 400, "invalid", "requests.0.method"),
    (
        {"requests": [op("POST", f"{NOTES}/abc", {})]},
        400,
        "invalid",
        "requests.0.method",
    ),
    ({"requests": [op("POST")]}, 400, "required", "requests.0.body"),
    ({"requests": [op("POST", body=["title"])]}, 400, "invalid", "requests.0.body"),
    (
        {"requests": [op("PATCH", f"{NOTES}/abc", "x")]},
        400,
        "invalid",
        "requests.0.body",
    ),
    ({"requests": [op("GET", body={"a": 1})]}, 400, "invalid", "requests.0.body"),
    (
        {"requests": [{**READ, "headers": {"If-Match": "x"}}]},
        400,
        "invalid",
        "requests.0.headers",
    ),
]


@pytest.mark.parametrize("body, status, code, param", SHAPE_ERRORS)
def test_a_malformed_batch_is_400_naming_what_is_wrong(
    notes, admin, body, status, code, param
):
    response = admin.post(BATCH, body, format="json")
    assert error_of(response) == (status, code, param)
    assert titles() == []


def test_every_malformed_operation_is_reported_at_once(notes, admin):
    response = run(admin, {"method": "GET"}, READ, op("POST"))
    assert response.status_code == 400
    params = [e["param"] for e in response.json()["errors"]]
    assert params == ["requests.0.url", "requests.2.body"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/collections",
        "/api/v1/collections/notes",
        "/api/v1/schema",
        "/api/v1/batch",
        "/api/v1/auth/login",
        "/api/v2/collections/notes/records",
        "/api/v1/collections/notes/records/",
        "/api/v1/collections/notes/records/a/b",
        "/api/v1/collections/notes/changes",
        "//evil.example/api/v1/collections/notes/records",
        "https://evil.example/api/v1/collections/notes/records",
        "/api/v1/collections/notes/records#x",
        "",
    ],
)
def test_a_url_outside_the_record_endpoints_is_400(notes, admin, url):
    response = run(admin, READ, op("GET", url))
    assert error_of(response) == (400, "invalid", "requests.1.url")


def test_a_body_that_is_not_json_is_refused_cleanly(notes, admin):
    malformed = admin.post(BATCH, b"{not json", content_type="application/json")
    assert malformed.status_code == 400
    form = admin.post(BATCH, {"requests": "x"})  # multipart
    assert form.status_code == 415
    assert admin.get(BATCH).status_code == 405


def test_hostile_names_and_ids_are_client_errors(notes, admin):
    response = run(
        admin,
        op("GET", "/collections/no%00pe/records"),
    )
    assert response.status_code == 404
    response = run(admin, op("GET", f"{NOTES}/%00"))
    assert error_of(response)[0::2] == (404, "requests.0")
    response = run(admin, op("PATCH", f"{NOTES}/{'x' * 5000}", {"title": "y"}))
    assert response.status_code == 404


# --- documented -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_batch_endpoint_is_in_the_openapi_document(anon):
    document = anon.get("/api/v1/openapi.json").json()
    operation = document["paths"]["/api/v1/batch"]["post"]
    assert operation["operationId"] == "batch"
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["requests"]["maxItems"] == 100
    assert {"200", "400", "401", "403", "404"} <= set(operation["responses"])
