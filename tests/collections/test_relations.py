"""Relations between records: single and multiple, to collections and to `users`, on delete."""

from __future__ import annotations

import pytest

from apps.accounts.models import User
from apps.collections.dynamic import cache
from apps.collections.services import get_spec


def url(name: str, record_id: str | None = None) -> str:
    base = f"/api/v1/collections/{name}/records"
    return f"{base}/{record_id}" if record_id else base


def collection(admin, name: str, *fields: dict) -> None:
    response = admin.post(
        "/api/v1/collections", {"name": name, "fields": list(fields)}, format="json"
    )
    assert response.status_code == 201, response.content


def relation(name: str, target: str, **options) -> dict:
    return {
        "name": name,
        "type": "relation",
        "options": {"collection": target, **options},
    }


def create(admin, name: str, data: dict | None = None) -> str:
    response = admin.post(url(name), data or {}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def ids_in(name: str) -> set[str]:
    return set(cache.model_for(get_spec(name)).objects.values_list("pk", flat=True))


def junction_rows(name: str, field: str) -> list[tuple[str, str]]:
    spec = get_spec(name)
    m2m = cache.model_for(spec)._meta.get_field(spec.field_by_name(field).attname)
    through = m2m.remote_field.through
    return list(
        through.objects.values_list(m2m.m2m_column_name(), m2m.m2m_reverse_name())
    )


# --- single and multiple ----------------------------------------------------------------


def test_a_single_relation_points_at_one_record_of_another_collection(schema_db, admin):
    collection(admin, "authors", {"name": "name", "type": "text"})
    collection(admin, "books", relation("author", "authors"))
    author = create(admin, "authors", {"name": "Ann"})

    book = create(admin, "books", {"author": author})

    assert admin.get(url("books", book)).json()["author"] == author


def test_a_single_relation_can_point_at_a_user(schema_db, admin, app_user):
    collection(admin, "posts", relation("owner", "users"))
    post = create(admin, "posts", {"owner": app_user.pk})
    assert admin.get(url("posts", post)).json()["owner"] == app_user.pk


def test_a_multiple_relation_keeps_the_order_given_and_drops_repeats(schema_db, admin):
    collection(admin, "tags", {"name": "label", "type": "text"})
    collection(admin, "posts", relation("tags", "tags", multiple=True))
    a, b, c = (create(admin, "tags") for _ in range(3))

    post = create(admin, "posts", {"tags": [c, a, c, b, a]})

    assert admin.get(url("posts", post)).json()["tags"] == [c, a, b]
    assert len(junction_rows("posts", "tags")) == 3


def test_a_patch_replaces_a_multiple_relation_in_the_new_order(schema_db, admin):
    collection(admin, "tags", {"name": "label", "type": "text"})
    collection(
        admin,
        "posts",
        relation("tags", "tags", multiple=True),
        {"name": "title", "type": "text"},
    )
    a, b, c = (create(admin, "tags") for _ in range(3))
    post = create(admin, "posts", {"tags": [a, b]})

    assert admin.patch(url("posts", post), {"tags": [c, a]}, format="json").json()[
        "tags"
    ] == [c, a]
    assert admin.patch(url("posts", post), {"title": "x"}, format="json").json()[
        "tags"
    ] == [c, a]
    assert (
        admin.patch(url("posts", post), {"tags": []}, format="json").json()["tags"]
        == []
    )
    assert junction_rows("posts", "tags") == []


def test_a_multiple_relation_accepts_a_single_id_as_a_list_of_one(schema_db, admin):
    collection(admin, "tags", {"name": "label", "type": "text"})
    collection(admin, "posts", relation("tags", "tags", multiple=True))
    tag = create(admin, "tags")
    post = create(admin, "posts", {"tags": tag})
    assert admin.get(url("posts", post)).json()["tags"] == [tag]


def test_a_multiple_relation_to_users_lists_members(schema_db, admin, make_user):
    collection(admin, "teams", relation("members", "users", multiple=True))
    first, second = make_user("one@example.com"), make_user("two@example.com")
    team = create(admin, "teams", {"members": [second.pk, first.pk]})
    assert admin.get(url("teams", team)).json()["members"] == [second.pk, first.pk]


def test_a_relation_can_point_at_its_own_collection(schema_db, admin):
    collection(
        admin,
        "nodes",
        relation("parent", "nodes"),
        relation("links", "nodes", multiple=True),
    )
    root = create(admin, "nodes")
    child = create(admin, "nodes", {"parent": root, "links": [root]})
    fetched = admin.get(url("nodes", child)).json()
    assert (fetched["parent"], fetched["links"]) == (root, [root])


def test_list_renders_multiple_relations_of_every_record(schema_db, admin):
    collection(admin, "tags", {"name": "label", "type": "text"})
    collection(admin, "posts", relation("tags", "tags", multiple=True))
    a, b = create(admin, "tags"), create(admin, "tags")
    p1 = create(admin, "posts", {"tags": [b, a]})
    p2 = create(admin, "posts", {"tags": [a]})
    p3 = create(admin, "posts")
    items = {r["id"]: r["tags"] for r in admin.get(url("posts")).json()["items"]}
    assert items == {p1: [b, a], p2: [a], p3: []}


# --- delete: cascade and restrict ---------------------------------------------------


@pytest.mark.parametrize("multiple", [False, True])
def test_cascade_delete_removes_the_records_that_reference_the_deleted_one(
    schema_db, admin, multiple
):
    collection(admin, "authors", {"name": "name", "type": "text"})
    collection(
        admin,
        "books",
        relation("author", "authors", multiple=multiple, cascade_delete=True),
    )
    ann, bob = create(admin, "authors"), create(admin, "authors")
    value = (lambda a: [a]) if multiple else (lambda a: a)
    anns_books = {create(admin, "books", {"author": value(ann)}) for _ in range(2)}
    bobs_book = create(admin, "books", {"author": value(bob)})

    assert admin.delete(url("authors", ann)).status_code == 204

    assert ids_in("authors") == {bob}
    assert ids_in("books") == {bobs_book}
    for book in anns_books:
        assert admin.get(url("books", book)).status_code == 404
    if multiple:
        assert junction_rows("books", "author") == [(bobs_book, bob)]


def test_cascade_delete_through_a_multiple_relation_removes_a_record_that_also_points_elsewhere(
    schema_db, admin
):
    collection(admin, "tags", {"name": "label", "type": "text"})
    collection(
        admin, "posts", relation("tags", "tags", multiple=True, cascade_delete=True)
    )
    a, b = create(admin, "tags"), create(admin, "tags")
    post = create(admin, "posts", {"tags": [a, b]})

    assert admin.delete(url("tags", a)).status_code == 204

    assert ids_in("posts") == set()
    assert ids_in("tags") == {b}
    assert junction_rows("posts", "tags") == []
    assert admin.get(url("posts", post)).status_code == 404


def test_cascade_delete_follows_chains(schema_db, admin):
    collection(admin, "a", {"name": "n", "type": "text"})
    collection(admin, "b", relation("a", "a", cascade_delete=True))
    collection(admin, "c", relation("b", "b", multiple=True, cascade_delete=True))
    collection(admin, "d", relation("c", "c", cascade_delete=True))
    a = create(admin, "a")
    b = create(admin, "b", {"a": a})
    c = create(admin, "c", {"b": [b]})
    create(admin, "d", {"c": c})
    other_a = create(admin, "a")
    other_d = create(
        admin,
        "d",
        {"c": create(admin, "c", {"b": [create(admin, "b", {"a": other_a})]})},
    )

    assert admin.delete(url("a", a)).status_code == 204

    assert ids_in("a") == {other_a}
    assert len(ids_in("b")) == len(ids_in("c")) == 1
    assert ids_in("d") == {other_d}


def test_cascade_delete_ends_on_cycles(schema_db, admin):
    collection(admin, "nodes", relation("next", "nodes", cascade_delete=True))
    first = create(admin, "nodes")
    second = create(admin, "nodes", {"next": first})
    third = create(admin, "nodes", {"next": second})
    assert (
        admin.patch(url("nodes", first), {"next": third}, format="json").status_code
        == 200
    )
    survivor = create(admin, "nodes")

    assert admin.delete(url("nodes", second)).status_code == 204

    assert ids_in("nodes") == {survivor}


def test_a_record_that_references_itself_can_be_deleted(schema_db, admin):
    collection(
        admin, "nodes", relation("me", "nodes"), relation("us", "nodes", multiple=True)
    )
    node = create(admin, "nodes")
    admin.patch(url("nodes", node), {"me": node, "us": [node]}, format="json")
    assert admin.delete(url("nodes", node)).status_code == 204
    assert ids_in("nodes") == set()
    assert junction_rows("nodes", "us") == []


@pytest.mark.parametrize("multiple", [False, True])
def test_without_cascade_a_referenced_record_cannot_be_deleted(
    schema_db, admin, multiple
):
    collection(admin, "authors", {"name": "name", "type": "text"})
    collection(admin, "books", relation("author", "authors", multiple=multiple))
    ann = create(admin, "authors", {"name": "Ann"})
    book = create(admin, "books", {"author": [ann] if multiple else ann})

    response = admin.delete(url("authors", ann))

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "relation_restrict"
    assert ids_in("authors") == {ann}
    assert ids_in("books") == {book}
    assert admin.get(url("books", book)).json()["author"] == (
        [ann] if multiple else ann
    )


def test_a_restricting_relation_anywhere_in_a_cascade_refuses_the_whole_delete(
    schema_db, admin
):
    collection(admin, "a", {"name": "n", "type": "text"})
    collection(
        admin,
        "b",
        relation("a", "a", cascade_delete=True),
        relation("tags", "a", multiple=True),
    )
    collection(admin, "c", relation("b", "b"))
    a = create(admin, "a")
    tag = create(admin, "a")
    b = create(admin, "b", {"a": a, "tags": [tag]})
    c = create(admin, "c", {"b": b})

    response = admin.delete(url("a", a))

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "relation_restrict"
    assert ids_in("a") == {a, tag}
    assert ids_in("b") == {b}
    assert ids_in("c") == {c}
    assert junction_rows("b", "tags") == [(b, tag)]


def test_a_restricted_delete_succeeds_once_the_reference_is_removed(schema_db, admin):
    collection(admin, "authors", {"name": "name", "type": "text"})
    collection(admin, "books", relation("author", "authors"))
    ann = create(admin, "authors")
    book = create(admin, "books", {"author": ann})
    assert admin.delete(url("authors", ann)).status_code == 409
    admin.patch(url("books", book), {"author": None}, format="json")
    assert admin.delete(url("authors", ann)).status_code == 204


def test_deleting_a_record_removes_its_own_junction_rows_only(schema_db, admin):
    collection(admin, "tags", {"name": "label", "type": "text"})
    collection(admin, "posts", relation("tags", "tags", multiple=True))
    a, b = create(admin, "tags"), create(admin, "tags")
    gone = create(admin, "posts", {"tags": [a, b]})
    kept = create(admin, "posts", {"tags": [b]})

    assert admin.delete(url("posts", gone)).status_code == 204

    assert junction_rows("posts", "tags") == [(kept, b)]
    assert ids_in("tags") == {a, b}


def test_deleting_a_user_cascades_to_records_that_reference_them(
    schema_db, admin, make_user
):
    collection(admin, "notes", relation("owner", "users", cascade_delete=True))
    collection(
        admin, "teams", relation("members", "users", multiple=True, cascade_delete=True)
    )
    leaving, staying = (
        make_user("leaving@example.com"),
        make_user("staying@example.com"),
    )
    create(admin, "notes", {"owner": leaving.pk})
    kept_note = create(admin, "notes", {"owner": staying.pk})
    create(admin, "teams", {"members": [staying.pk, leaving.pk]})

    assert admin.delete(url("users", leaving.pk)).status_code == 204

    assert not User.objects.filter(pk=leaving.pk).exists()
    assert ids_in("notes") == {kept_note}
    assert ids_in("teams") == set()


def test_a_referenced_user_cannot_be_deleted_without_cascade(
    schema_db, admin, app_user
):
    collection(admin, "notes", relation("owner", "users"))
    note = create(admin, "notes", {"owner": app_user.pk})

    response = admin.delete(url("users", app_user.pk))

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "relation_restrict"
    assert User.objects.filter(pk=app_user.pk).exists()
    assert ids_in("notes") == {note}


def test_a_user_can_reference_records_and_be_deleted(schema_db, admin, app_user):
    collection(admin, "teams", {"name": "name", "type": "text"})
    team = create(admin, "teams")
    response = admin.patch(
        "/api/v1/collections/users",
        {"fields": [relation("teams", "teams", multiple=True)]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert admin.patch(
        url("users", app_user.pk), {"teams": [team]}, format="json"
    ).json()["teams"] == [team]

    assert admin.delete(url("users", app_user.pk)).status_code == 204
    assert junction_rows("users", "teams") == []
    assert ids_in("teams") == {team}
