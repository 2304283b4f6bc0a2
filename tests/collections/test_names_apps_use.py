"""Names apps use (`order`, `user`, `key`, `group`, `from`, `to`, `when`, `date`,
`position`, `value`), SQL keywords all, work as collection and field names everywhere:
records, filters, sorts, indexes, expand and the change log."""

from __future__ import annotations

import pytest

from tests.collections.schema_helpers import (
    add_record,
    create_collection,
    error_of,
    patch_collection,
)

APP_NAMES = [
    "order",
    "user",
    "key",
    "group",
    "from",
    "to",
    "when",
    "date",
    "position",
    "value",
]
# Words Django gives a meaning in query keyword arguments.
ORM_WORDS = ["in", "exact", "gt", "isnull", "contains", "a__b", "select", "table"]
ORDER = "/api/v1/collections/order/records"


@pytest.fixture
def shop(schema_db, admin, app_user):
    """`group` (a collection) and `order`, with a field named after each app name."""
    create_collection(
        admin,
        "group",
        fields=[{"name": "key", "type": "text"}, {"name": "value", "type": "number"}],
        rules={"list": "", "view": ""},
    )
    create_collection(
        admin,
        "order",
        fields=[
            {"name": "user", "type": "relation", "options": {"collection": "users"}},
            {"name": "group", "type": "relation", "options": {"collection": "group"}},
            {"name": "key", "type": "text"},
            {"name": "from", "type": "date"},
            {"name": "to", "type": "date"},
            {"name": "when", "type": "date"},
            {"name": "date", "type": "date"},
            {"name": "position", "type": "number"},
            {"name": "value", "type": "text"},
            {"name": "order", "type": "select", "options": {"values": ["a", "b"]}},
        ],
        indexes=[
            {"fields": ["key"], "unique": True},
            {"fields": ["from", "to"], "unique": True},
            {"fields": ["position", "when"]},
            {"fields": ["user", "date"]},
        ],
        rules={"list": "user = @request.auth.id", "view": "user = @request.auth.id"},
    )
    groups = [
        add_record(admin, "group", {"key": f"g{i}", "value": i}) for i in range(2)
    ]
    orders = []
    for i in range(4):
        orders.append(
            add_record(
                admin,
                "order",
                {
                    "user": app_user.pk,
                    "group": groups[i % 2]["id"],
                    "key": f"k{i}",
                    "from": f"2024-01-0{i + 1}T00:00:00Z",
                    "to": f"2024-02-0{i + 1}T00:00:00Z",
                    "when": f"2024-03-0{i + 1}T00:00:00Z",
                    "date": f"2024-04-0{i + 1}T00:00:00Z",
                    "position": i,
                    "value": f"v{i}",
                    "order": "ab"[i % 2],
                },
            )
        )
    return {"groups": groups, "orders": orders}


def _ids(client, url: str = ORDER, **params) -> list[str]:
    response = client.get(url, {"limit": 500, **params})
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


FILTERS = [
    ('key = "k1"', [1]),
    ('from >= "2024-01-03T00:00:00Z"', [2, 3]),
    ('to < "2024-02-02T00:00:00Z"', [0]),
    ('when = "2024-03-04T00:00:00.000Z"', [3]),
    ('date <= "2024-04-02T00:00:00Z"', [0, 1]),
    ("position > 1 && position != 3", [2]),
    ('value ~ "v" && value !~ "0"', [1, 2, 3]),
    ('order = "a"', [0, 2]),
    ('group.key = "g1"', [1, 3]),
    ("group.value = 0", [0, 2]),
    ("user.email = 'user1@example.com' && user != ''", [0, 1, 2, 3]),
    ("from < to && when > date", []),
    ("from < to && when < date", [0, 1, 2, 3]),
]


@pytest.mark.parametrize("text, expected", FILTERS)
def test_a_filter_on_fields_named_as_apps_name_them(
    shop, admin, user_client, text, expected
):
    orders = [o["id"] for o in shop["orders"]]
    for client in (admin, user_client):
        assert sorted(_ids(client, filter=text)) == sorted(orders[i] for i in expected)


@pytest.mark.parametrize(
    "name", ["key", "from", "to", "when", "date", "position", "value"]
)
def test_a_sort_on_fields_named_as_apps_name_them(shop, user_client, name):
    orders = [o["id"] for o in shop["orders"]]
    assert _ids(user_client, sort=name) == orders
    assert _ids(user_client, sort=f"-{name}") == orders[::-1]
    walked, cursor = [], None
    while True:
        params = {"limit": 1, "sort": f"-{name}"}
        body = user_client.get(ORDER, params | ({"cursor": cursor} if cursor else {}))
        walked += [item["id"] for item in body.json()["items"]]
        cursor = body.json()["next_cursor"]
        if cursor is None:
            break
    assert walked == orders[::-1]


def test_a_sort_on_fields_named_order_user_and_group(shop, user_client):
    orders = [o["id"] for o in shop["orders"]]
    assert _ids(user_client, sort="order,key") == [orders[i] for i in (0, 2, 1, 3)]
    assert _ids(user_client, sort="-order,-key") == [orders[i] for i in (3, 1, 2, 0)]
    by_group = _ids(user_client, sort="group,position")
    group_of = {o["id"]: o["group"] for o in shop["orders"]}
    assert [group_of[i] for i in by_group] == sorted(group_of[i] for i in orders)
    assert sorted(_ids(user_client, sort="-user,key")) == sorted(orders)


def test_expand_and_fields_on_relations_named_user_and_group(
    shop, user_client, app_user
):
    response = user_client.get(
        ORDER, {"expand": "user,group", "fields": "key,user,group.key", "sort": "key"}
    )
    assert response.status_code == 200, response.content
    first = response.json()["items"][0]
    assert set(first) == {"id", "key", "user", "expand"}
    assert first["expand"]["user"]["id"] == app_user.pk
    assert first["expand"]["group"] == {"id": shop["groups"][0]["id"], "key": "g0"}


def test_unique_indexes_over_fields_named_key_from_and_to_hold(shop, admin):
    response = admin.post(ORDER, {"key": "k0"}, format="json")
    assert response.status_code == 409, response.content
    response = admin.post(
        ORDER,
        {"key": "new", "from": "2024-01-01T00:00:00Z", "to": "2024-02-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 409, response.content
    assert error_of(response)["code"] == "unique_violation"


def test_patch_and_delete_records_with_fields_named_as_apps_name_them(
    shop, user_client, admin
):
    one, two = shop["orders"][0]["id"], shop["orders"][1]["id"]
    response = admin.patch(
        f"{ORDER}/{one}",
        {"key": "k9", "when": "2030-01-01T00:00:00Z", "position": 9, "order": "b"},
        format="json",
    )
    assert response.status_code == 200, response.content
    changed = response.json()
    assert (changed["key"], changed["when"], changed["position"], changed["order"]) == (
        "k9",
        "2030-01-01T00:00:00.000Z",
        9,
        "b",
    )
    response = admin.patch(f"{ORDER}/{two}", {"key": "k9"}, format="json")
    assert response.status_code == 409, response.content
    assert admin.delete(f"{ORDER}/{two}").status_code == 204
    assert _ids(user_client, filter='key = "k9"') == [one]
    assert two not in _ids(user_client)


def test_the_change_log_of_a_collection_named_order(shop, admin, user_client):
    one, two = shop["orders"][0]["id"], shop["orders"][1]["id"]
    admin.patch(f"{ORDER}/{one}", {"value": "changed"}, format="json")
    assert admin.delete(f"{ORDER}/{two}").status_code == 204
    response = user_client.get("/api/v1/collections/order/changes")
    assert response.status_code == 200, response.content
    changes = response.json()["changes"]
    upserts = {c["record"]["id"]: c["record"] for c in changes if c["op"] == "upsert"}
    assert upserts[one]["value"] == "changed"
    assert upserts[one]["from"] == "2024-01-01T00:00:00.000Z"
    assert two not in upserts
    assert {"op": "delete", "id": two} in changes


def test_renaming_fields_and_collections_to_app_names(shop, admin, user_client):
    group = admin.get("/api/v1/collections/group").json()
    fields = [dict(f) for f in group["fields"]]
    fields[0]["name"], fields[1]["name"] = "when", "to"
    patch_collection(admin, "group", {"name": "user_group", "fields": fields})
    assert _ids(admin, "/api/v1/collections/user_group/records", filter="to = 1")
    response = user_client.get(
        ORDER, {"expand": "group", "filter": "group.when = 'g1'"}
    )
    assert response.status_code == 200, response.content
    assert {item["expand"]["group"]["when"] for item in response.json()["items"]} == {
        "g1"
    }


@pytest.mark.parametrize("name", APP_NAMES + ORM_WORDS)
def test_a_collection_and_its_field_may_share_any_of_these_names(
    schema_db, admin, name
):
    url = f"/api/v1/collections/{name}/records"
    create_collection(
        admin,
        name,
        fields=[{"name": name, "type": "text"}, {"name": "n", "type": "number"}],
        indexes=[{"fields": [name], "unique": True}, {"fields": [name, "n"]}],
    )
    first = add_record(admin, name, {name: "x", "n": 1})
    second = add_record(admin, name, {name: "y", "n": 2})
    assert _ids(admin, url, filter=f'{name} = "x"') == [first["id"]]
    assert _ids(admin, url, sort=f"-{name}") == [second["id"], first["id"]]
    response = admin.post(url, {name: "x"}, format="json")
    assert response.status_code == 409, response.content
    response = admin.patch(f"{url}/{first['id']}", {name: "z"}, format="json")
    assert response.json()[name] == "z"
    assert admin.delete(f"{url}/{second['id']}").status_code == 204
    changes = admin.get(f"/api/v1/collections/{name}/changes").json()["changes"]
    assert {"op": "delete", "id": second["id"]} in changes
    assert admin.get("/api/v1/schema").status_code == 200
    document = admin.get("/api/v1/openapi.json").json()
    assert f"/api/v1/collections/{name}/records" in document["paths"]
    assert f"{name}.Record" in document["components"]["schemas"]
