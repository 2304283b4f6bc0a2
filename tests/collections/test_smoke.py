"""The shortest path a new user takes: create a collection, add a record, read it back."""


def test_superuser_creates_collection_and_record(schema_db, admin):
    response = admin.post(
        "/api/v1/collections",
        {
            "name": "notes",
            "fields": [{"name": "title", "type": "text", "required": True}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    created = admin.post(
        "/api/v1/collections/notes/records", {"title": "hello"}, format="json"
    )
    assert created.status_code == 201, created.content
    record_id = created.json()["id"]
    fetched = admin.get(f"/api/v1/collections/notes/records/{record_id}")
    assert fetched.json()["title"] == "hello"
