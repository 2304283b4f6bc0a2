"""Helpers for schema tests: drive the schema API and look at the real tables it builds."""

from __future__ import annotations

from django.db import connection

COLLECTIONS = "/api/v1/collections"


def create_collection(client, name: str, fields=(), indexes=(), **extra) -> dict:
    """Create a collection over the API; fail loudly unless it is a 201."""
    body = {"name": name, "fields": list(fields), "indexes": list(indexes), **extra}
    response = client.post(COLLECTIONS, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def patch_collection(client, name: str, data: dict, status: int = 200) -> dict:
    response = client.patch(f"{COLLECTIONS}/{name}", data, format="json")
    assert response.status_code == status, response.content
    return response.json()


def get_collection(client, name: str) -> dict:
    response = client.get(f"{COLLECTIONS}/{name}")
    assert response.status_code == 200, response.content
    return response.json()


def add_record(client, name: str, data: dict) -> dict:
    response = client.post(f"{COLLECTIONS}/{name}/records", data, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def fields_payload(collection: dict) -> list[dict]:
    """The collection's fields as a PATCH body sends them back (ids kept)."""
    return [dict(f) for f in collection["fields"]]


def field_by_name(collection: dict, name: str) -> dict:
    for field in collection["fields"]:
        if field["name"] == name:
            return field
    raise AssertionError(f"no field {name!r} in {collection['name']}")


def column_of(collection: dict, name: str) -> str:
    return f"f_{field_by_name(collection, name)['id']}"


def table_of(collection: dict) -> str:
    return "baas_users" if collection["id"] == "users" else f"c_{collection['id']}"


def junction_of(collection: dict, name: str) -> str:
    return f"r_{field_by_name(collection, name)['id']}"


def error_of(response) -> dict:
    """The first item of the error envelope, after checking the envelope's shape."""
    body = response.json()
    assert body["status"] == response.status_code, body
    assert body["errors"], body
    return body["errors"][0]


# --- introspection ----------------------------------------------------------------------


def table_names() -> set[str]:
    return set(connection.introspection.table_names())


def columns(table: str) -> dict[str, tuple[str, bool]]:
    """column -> (Django field class the column introspects as, nullable)."""
    introspection = connection.introspection
    with connection.cursor() as cursor:
        description = introspection.get_table_description(cursor, table)
    return {
        col.name: (introspection.get_field_type(col.type_code, col), bool(col.null_ok))
        for col in description
    }


def constraints(table: str) -> dict[str, dict]:
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, table)


def unique_sets(table: str) -> set[tuple[str, ...]]:
    """Column tuples covered by a unique constraint or unique index (primary key aside)."""
    return {
        tuple(c["columns"])
        for c in constraints(table).values()
        if c["unique"] and not c["primary_key"]
    }


def index_sets(table: str) -> set[tuple[str, ...]]:
    """Column tuples of plain (non-unique) indexes."""
    return {
        tuple(c["columns"])
        for c in constraints(table).values()
        if c["index"] and not c["unique"] and not c["primary_key"]
    }


def foreign_keys(table: str) -> dict[str, tuple[str, str]]:
    """column -> (target table, target column)."""
    return {
        c["columns"][0]: tuple(c["foreign_key"])
        for c in constraints(table).values()
        if c["foreign_key"]
    }


def rows(table: str, *cols: str) -> list[tuple]:
    quote = connection.ops.quote_name
    selected = ", ".join(quote(c) for c in ("id",) + cols)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {selected} FROM {quote(table)} ORDER BY {quote('id')}")
        return [tuple(row) for row in cursor.fetchall()]


def snapshot(table: str) -> dict:
    """Everything that must stay put when a schema change is refused: shape and data."""
    cols = columns(table)
    shape = {
        name: sorted(
            (k, repr(v)) for k, v in c.items() if k not in ("definition", "options")
        )
        for name, c in constraints(table).items()
    }
    data = rows(table, *sorted(c for c in cols if c != "id"))
    return {"columns": cols, "constraints": shape, "rows": data}
