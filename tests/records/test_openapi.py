"""/api/v1/openapi.json describes exactly what the server does, runtime collections included."""

from __future__ import annotations

import pytest
from django.db.models import F
from drf_spectacular.generators import SchemaGenerator
from openapi_spec_validator import validate

from apps.collections.models import Collection, Field
from apps.records.api import openapi_view

OPENAPI = "/api/v1/openapi.json"
COLLECTIONS = "/api/v1/collections"
NOTES = "/api/v1/collections/notes/records"
NOTE = "/api/v1/collections/notes/records/{id}"
GENERIC = "/api/v1/collections/{name}/records"

NOTE_FIELDS = [
    {
        "name": "title",
        "type": "text",
        "required": True,
        "options": {"min": 1, "max": 80, "pattern": "^[A-Z]"},
    },
    {"name": "score", "type": "number", "options": {"min": 0, "max": 10}},
    {"name": "rank", "type": "number", "options": {"integer": True}},
    {"name": "done", "type": "bool"},
    {"name": "contact", "type": "email"},
    {"name": "homepage", "type": "url"},
    {"name": "due", "type": "date"},
    {"name": "status", "type": "select", "options": {"values": ["open", "closed"]}},
    {
        "name": "labels",
        "type": "select",
        "options": {"values": ["a", "b"], "multiple": True},
    },
    {"name": "meta", "type": "json"},
    {"name": "owner", "type": "relation", "options": {"collection": "users"}},
    {
        "name": "related",
        "type": "relation",
        "options": {"collection": "notes", "multiple": True},
    },
]


@pytest.fixture(autouse=True)
def no_cached_documents():
    """Each test starts from a cold per-process document cache."""
    openapi_view.forget_documents()
    yield
    openapi_view.forget_documents()


def fetch(client) -> dict:
    response = client.get(OPENAPI)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    document = response.json()
    validate(document)  # raises unless it is a valid OpenAPI 3 document
    return document


def schema(document: dict, name: str) -> dict:
    return document["components"]["schemas"][name]


def resolve(document: dict, node: dict) -> dict:
    while "$ref" in node:
        kind, name = node["$ref"].split("/")[-2:]
        node = document["components"][kind][name]
    return node


def properties(document: dict, node: dict) -> dict:
    """Every property of a schema, through `$ref` and `allOf`."""
    node = resolve(document, node)
    found = dict(node.get("properties", {}))
    for part in node.get("allOf", []):
        found.update(properties(document, part))
    return found


def body_schema(document: dict, operation: dict) -> dict:
    return resolve(document, operation["requestBody"])["content"]["application/json"][
        "schema"
    ]


def create_notes(admin) -> dict:
    response = admin.post(
        COLLECTIONS, {"name": "notes", "fields": NOTE_FIELDS}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


# --- the static part ----------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_document_is_valid_and_describes_the_static_endpoints(anon):
    document = fetch(anon)
    paths = document["paths"]
    assert set(paths[COLLECTIONS]) == {"get", "post"}
    assert set(paths[f"{COLLECTIONS}/{{name}}"]) == {"get", "patch", "delete"}
    assert set(paths["/api/v1/schema"]) == {"get"}
    dry_run = [
        p
        for p in paths["/api/v1/schema/import"]["post"]["parameters"]
        if p["name"] == "dry_run"
    ]
    assert dry_run and dry_run[0]["in"] == "query"
    assert set(paths["/healthz"]) == {"get"} and set(paths["/readyz"]) == {"get"}
    assert "503" in paths["/readyz"]["get"]["responses"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert paths[COLLECTIONS]["post"]["security"] == [{"bearer": []}]


@pytest.mark.django_db
def test_auth_endpoints_are_described_with_their_request_bodies(anon):
    document = fetch(anon)
    paths = document["paths"]
    for path in ("/api/v1/auth/login", "/api/v1/auth/signup", "/api/v1/tokens/refresh"):
        body = resolve(document, paths[path]["post"]["requestBody"])
        assert "application/json" in body["content"], path
    login = properties(
        document, body_schema(document, paths["/api/v1/auth/login"]["post"])
    )
    assert {"email", "password"} <= set(login)
    signup = properties(
        document, body_schema(document, paths["/api/v1/auth/signup"]["post"])
    )
    assert {"email", "password"} <= set(signup)
    refresh = properties(
        document, body_schema(document, paths["/api/v1/tokens/refresh"]["post"])
    )
    assert "refresh_token" in refresh
    # Only what our URL map serves: nothing under allauth's own prefix, no browser-only path.
    assert not [p for p in paths if p.startswith("/_allauth")]
    assert "/api/v1/auth/provider/redirect" not in paths


@pytest.mark.django_db
def test_error_responses_share_the_envelope_component(anon):
    document = fetch(anon)
    envelope = schema(document, "Error")
    assert envelope["required"] == ["status", "errors"]
    item = resolve(document, envelope["properties"]["errors"]["items"])
    assert set(item["properties"]) == {"code", "message", "param"}
    create = document["paths"][COLLECTIONS]["post"]["responses"]
    for status in ("400", "401", "403", "409", "413"):
        response = resolve(document, create[status])
        assert response["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    assert "404" in document["paths"][f"{COLLECTIONS}/{{name}}"]["get"]["responses"]


@pytest.mark.django_db
def test_every_operation_is_described_once_with_a_unique_operation_id(anon):
    document = fetch(anon)
    ids = [
        op["operationId"] for item in document["paths"].values() for op in item.values()
    ]
    assert len(ids) == len(set(ids))


# --- runtime collections ----------------------------------------------------------------------


def test_created_collection_appears_with_its_fields_and_types(schema_db, admin):
    collection = create_notes(admin)
    document = fetch(admin)
    paths = document["paths"]
    assert set(paths[NOTES]) == {"get", "post"}
    assert set(paths[NOTE]) == {"get", "patch", "delete"}
    assert "201" in paths[NOTES]["post"]["responses"]
    assert "204" in paths[NOTE]["delete"]["responses"]
    assert {p["name"] for p in paths[NOTES]["get"]["parameters"]} >= {
        "limit",
        "cursor",
        "page",
        "count",
    }
    assert GENERIC not in paths  # credentials that see collections get them one by one

    props = schema(document, "notes.Record")["properties"]
    assert props["id"]["type"] == "string"
    assert props["created"] == {
        **props["created"],
        "type": "string",
        "format": "date-time",
    }
    assert props["updated"]["format"] == "date-time"
    title = props["title"]
    assert (
        title["type"],
        title["minLength"],
        title["maxLength"],
        title["pattern"],
    ) == ("string", 1, 80, "^[A-Z]")
    assert (
        props["score"]["type"],
        props["score"]["minimum"],
        props["score"]["maximum"],
    ) == ("number", 0, 10)
    assert props["rank"]["type"] == "integer"
    assert props["done"] == {"type": "boolean"}
    assert (props["contact"]["type"], props["contact"]["format"]) == ("string", "email")
    assert (props["homepage"]["type"], props["homepage"]["format"]) == ("string", "uri")
    assert (props["due"]["type"], props["due"]["format"]) == ("string", "date-time")
    assert props["status"]["enum"] == ["open", "closed", None]
    assert props["labels"]["type"] == "array" and props["labels"]["items"]["enum"] == [
        "a",
        "b",
    ]
    assert "type" not in props["meta"]  # any JSON value
    assert (
        props["owner"]["type"] == "string" and "users" in props["owner"]["description"]
    )
    assert (
        props["related"]["type"] == "array"
        and props["related"]["items"]["type"] == "string"
    )

    create = schema(document, "notes.Create")
    assert create["required"] == ["title"]
    assert create["additionalProperties"] is False
    assert set(create["properties"]) == {"id"} | {
        f["name"] for f in collection["fields"]
    }
    assert (
        "nullable" not in create["properties"]["title"]
    )  # a required field refuses null
    assert (
        create["properties"]["score"]["nullable"] is True
    )  # an optional one is cleared by it
    update = schema(document, "notes.Update")
    assert "required" not in update and "title" in update["properties"]
    assert "nullable" not in update["properties"]["title"]
    listing = schema(document, "notes.List")
    assert set(listing["properties"]) == {"items", "next_cursor", "total"}
    assert listing["required"] == ["items", "next_cursor"]
    assert paths[NOTES]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ] == {"$ref": "#/components/schemas/notes.Create"}


def test_record_document_matches_what_the_server_returns(schema_db, admin):
    create_notes(admin)
    record = admin.post(
        NOTES, {"title": "Hello", "labels": ["a"], "rank": 3}, format="json"
    ).json()
    document = fetch(admin)
    described = schema(document, "notes.Record")
    assert set(record) == set(described["properties"])
    assert set(described["required"]) <= set(record)
    listing = admin.get(NOTES, {"count": "true"}).json()
    assert set(listing) == set(schema(document, "notes.List")["properties"])


def test_users_collection_has_email_and_a_write_only_password(schema_db, admin):
    document = fetch(admin)
    record = schema(document, "users.Record")
    assert record["properties"]["email"]["format"] == "email"
    assert "password" not in record["properties"]
    create = schema(document, "users.Create")
    assert create["properties"]["password"]["writeOnly"] is True
    assert {"email", "password"} <= set(create["required"])
    assert "/api/v1/collections/users/records/{id}" in document["paths"]


def test_document_follows_field_rename_and_removal_and_drop(schema_db, admin):
    collection = create_notes(admin)
    assert "title" in schema(fetch(admin), "notes.Record")["properties"]
    kept = [
        dict(f) for f in collection["fields"] if f["name"] not in ("score", "related")
    ]
    for field in kept:
        if field["name"] == "title":
            field["name"] = "heading"
    response = admin.patch(f"{COLLECTIONS}/notes", {"fields": kept}, format="json")
    assert response.status_code == 200, response.content

    props = schema(fetch(admin), "notes.Record")["properties"]
    assert "heading" in props and props["heading"]["maxLength"] == 80
    assert "title" not in props and "score" not in props and "related" not in props

    assert admin.delete(f"{COLLECTIONS}/notes").status_code == 204
    document = fetch(admin)
    assert not [
        p for p in document["paths"] if p.startswith("/api/v1/collections/notes")
    ]
    assert not [s for s in document["components"]["schemas"] if s.startswith("notes.")]


# --- who sees collection names -----------------------------------------------------------


def test_anonymous_and_app_users_get_generic_record_paths_only(
    schema_db, admin, anon, user_client
):
    create_notes(admin)
    for client in (anon, user_client):
        document = fetch(client)
        assert GENERIC in document["paths"] and f"{GENERIC}/{{id}}" in document["paths"]
        assert NOTES not in document["paths"]
        assert "notes.Record" not in document["components"]["schemas"]
        assert "notes" not in str(document["paths"])


def test_api_keys_with_record_or_schema_scope_see_collections(
    schema_db, admin, key_client
):
    create_notes(admin)
    for scope in ("records:read", "records:write", "schema"):
        assert NOTES in fetch(key_client(scope))["paths"], scope
    assert NOTES not in fetch(key_client("push:send"))["paths"]


@pytest.mark.django_db
def test_invalid_credentials_are_refused_not_downgraded(anon):
    anon.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    response = anon.get(OPENAPI)
    assert response.status_code == 401
    assert response.json()["status"] == 401


# --- per-process cache ---------------------------------------------------------------------


@pytest.fixture
def generations(monkeypatch) -> list:
    calls: list = []

    class CountingGenerator(SchemaGenerator):
        def get_schema(self, *args, **kwargs):
            calls.append(1)
            return super().get_schema(*args, **kwargs)

    monkeypatch.setattr(openapi_view.OpenApiView, "generator_class", CountingGenerator)
    return calls


def test_document_is_generated_once_while_the_schema_is_unchanged(
    schema_db, admin, generations
):
    fetch(admin)
    fetch(admin)
    assert len(generations) == 1
    create_notes(admin)
    assert NOTES in fetch(admin)["paths"]
    fetch(admin)
    assert len(generations) == 2


def test_change_committed_by_another_process_is_seen_on_the_next_request(
    schema_db, admin, generations
):
    """Another process changes the schema: nothing in this process is told, only the rows change."""
    create_notes(admin)
    assert "title" in schema(fetch(admin), "notes.Record")["properties"]
    notes = Collection.objects.get(name="notes")
    # What another process's rename commits, without touching this process's caches.
    Field.objects.filter(collection=notes, name="title").update(
        name="headline", name_key="headline"
    )
    Collection.objects.filter(pk=notes.pk).update(
        schema_version=F("schema_version") + 1
    )

    props = schema(fetch(admin), "notes.Record")["properties"]
    assert "headline" in props and "title" not in props
    assert len(generations) == 2


def test_collection_created_elsewhere_appears_with_a_stale_document_cached(
    schema_db, admin, generations
):
    fetch(admin)
    stale = dict(openapi_view._documents)
    create_notes(admin)
    openapi_view._documents.clear()
    openapi_view._documents.update(stale)  # this process still holds the old document
    assert NOTES in fetch(admin)["paths"]
    assert len(generations) == 2
