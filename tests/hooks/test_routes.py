"""`@route`: /api/v1/fn/<path> with the API's authentication, envelope, idempotency,
rate limits and OpenAPI entries."""

from __future__ import annotations

from typing import TypedDict

import pytest
from rest_framework import serializers
from rest_framework.response import Response

from apps.hooks import registry
from baas import records
from baas.hooks import Reject, route
from tests.records.test_records_crud import create_collection

pytestmark = pytest.mark.django_db(transaction=True)


class Greeting(TypedDict):
    hello: str
    count: int


class OrderIn(serializers.Serializer):
    item = serializers.CharField(max_length=10)
    quantity = serializers.IntegerField(min_value=1)


@pytest.fixture
def routes():
    with registry.isolated() as fresh:

        @route("GET", "/hello/<str:name>", auth="public")
        def hello(request, name) -> Greeting:
            """Say hello."""
            return {"hello": name, "count": len(name)}

        @route("GET", "/me", auth="user")
        def me(request):
            return {"id": str(request.user.pk)}

        @route("POST", "/admin-only", auth="superuser")
        def admin_only(request) -> None:
            return None

        @route("POST", "/push", auth="key:push:send")
        def push(request):
            return {"ok": True}

        @route("POST", "/orders", auth="user", request=OrderIn)
        def order(request):
            if request.validated_data["item"] == "nope":
                raise Reject("sold_out", "Sold out.", param="item", status=409)
            return Response({"ordered": request.validated_data["quantity"]}, status=201)

        @route("POST", "/limited", auth="public", rate="2/m/ip")
        def limited(request):
            return {"ok": True}

        @route("GET", "/broken", auth="public")
        def broken(request):
            raise RuntimeError("a bug in the team's code")

        yield fresh


def test_a_public_route_answers_with_its_data(routes, anon):
    response = anon.get("/api/v1/fn/hello/ada")
    assert response.status_code == 200
    assert response.json() == {"hello": "ada", "count": 3}


@pytest.mark.parametrize(
    "method, path, actor, status",
    [
        ("get", "/me", "anon", 401),
        ("get", "/me", "key", 403),
        ("get", "/me", "user", 200),
        ("get", "/me", "admin", 200),
        ("post", "/admin-only", "anon", 401),
        ("post", "/admin-only", "user", 403),
        ("post", "/admin-only", "key", 403),
        ("post", "/admin-only", "admin", 204),
        ("post", "/push", "anon", 401),
        ("post", "/push", "user", 403),
        ("post", "/push", "other_key", 403),
        ("post", "/push", "key", 200),
        ("post", "/push", "admin", 200),
    ],
)
def test_each_route_admits_only_its_callers(
    routes, anon, user_client, admin, key_client, method, path, actor, status
):
    clients = {
        "anon": anon,
        "user": user_client,
        "admin": admin,
        "key": key_client("push:send"),
        "other_key": key_client("records:read"),
    }
    response = getattr(clients[actor], method)("/api/v1/fn" + path, format="json")
    assert response.status_code == status, response.content
    if status >= 400:
        assert response.json()["errors"][0]["code"]


def test_a_refused_caller_gets_the_envelope_and_the_function_never_runs(routes, anon):
    response = anon.post("/api/v1/fn/admin-only")
    assert response.json()["status"] == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_unknown_paths_and_methods_get_404_and_405(routes, anon):
    response = anon.get("/api/v1/fn/nothing-here")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"
    response = anon.delete("/api/v1/fn/hello/ada")
    assert response.status_code == 405
    assert response["Allow"] == "GET"


def test_a_serializer_validates_the_body_and_reject_names_its_status(
    routes, user_client
):
    bad = user_client.post("/api/v1/fn/orders", {"item": "x"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["param"] == "quantity"
    sold = user_client.post(
        "/api/v1/fn/orders", {"item": "nope", "quantity": 1}, format="json"
    )
    assert sold.status_code == 409
    assert sold.json()["errors"][0] == {
        "code": "sold_out",
        "message": "Sold out.",
        "param": "item",
    }
    ok = user_client.post(
        "/api/v1/fn/orders", {"item": "tea", "quantity": 2}, format="json"
    )
    assert ok.status_code == 201 and ok.json() == {"ordered": 2}


def test_a_function_that_raises_answers_500_in_the_envelope_without_details(
    routes, anon
):
    anon.raise_request_exception = False
    response = anon.get("/api/v1/fn/broken")
    assert response.status_code == 500
    assert "a bug" not in response.content.decode()
    assert response.json()["errors"][0]["code"] == "server_error"


def test_a_rate_limited_route_answers_429_with_retry_after(routes, anon):
    assert [anon.post("/api/v1/fn/limited").status_code for _ in range(2)] == [200, 200]
    response = anon.post("/api/v1/fn/limited")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60


def test_a_retried_post_with_the_same_idempotency_key_runs_once(routes, user_client):
    calls = []

    @route("POST", "/count", auth="user")
    def count(request):
        calls.append(1)
        return {"calls": len(calls)}

    headers = {"HTTP_IDEMPOTENCY_KEY": "k-123456789"}
    first = user_client.post("/api/v1/fn/count", {}, format="json", **headers)
    again = user_client.post("/api/v1/fn/count", {}, format="json", **headers)
    assert first.json() == again.json() == {"calls": 1}
    assert calls == [1]


def test_routes_appear_in_the_openapi_document(routes, anon):
    document = anon.get("/api/v1/openapi.json").json()
    hello = document["paths"]["/api/v1/fn/hello/{name}"]["get"]
    assert hello["summary"] == "Say hello."
    assert hello["security"] == []
    assert hello["responses"]["200"]["content"]["application/json"]["schema"] == {
        "type": "object",
        "properties": {"hello": {"type": "string"}, "count": {"type": "integer"}},
        "required": ["hello", "count"],
    }
    orders = document["paths"]["/api/v1/fn/orders"]["post"]
    body = orders["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["item", "quantity"]
    assert "429" in document["paths"]["/api/v1/fn/limited"]["post"]["responses"]
    assert "/api/v1/fn/{subpath}" not in document["paths"]


def test_a_route_reads_records_as_its_caller_through_the_facade(
    routes, schema_db, admin, user_client, make_user
):
    create_collection(admin, "notes", [{"name": "text", "type": "text"}])
    admin.patch(
        "/api/v1/collections/notes",
        {"rules": {"list": "@request.auth.id != ''", "view": "", "create": None}},
        format="json",
    )
    records.create("notes", {"text": "from server code"})  # no rule applies to it

    @route("GET", "/notes", auth="public")
    def notes(request):
        return records.list("notes", as_user=request.user)

    assert client_with_anon_items(user_client) == ["from server code"]


def client_with_anon_items(client):
    return [item["text"] for item in client.get("/api/v1/fn/notes").json()["items"]]
