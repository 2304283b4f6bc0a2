"""Who may download a file: the record's view rule and the field's read rule decide, as
for the record itself; protected files need a file token; tokens are per user."""

from __future__ import annotations

import pytest

from apps.accounts.apikeys import apikey_create
from tests.conftest import USER_PASSWORD, client_with, login
from tests.files.helpers import RECORDS, body_of, file_url, png, upload

pytestmark = pytest.mark.usefixtures("schema_db")

OWNER_ONLY = "owner = @request.auth.id"


@pytest.fixture
def notes(admin):
    """Private notes (owner only) with a public-looking and a protected file field."""
    response = admin.post(
        "/api/v1/collections",
        {
            "name": "notes",
            "fields": [
                {
                    "name": "owner",
                    "type": "relation",
                    "options": {"collection": "users"},
                },
                {"name": "photo", "type": "file"},
                {"name": "secret", "type": "file", "options": {"protected": True}},
            ],
            "rules": {
                "list": OWNER_ONLY,
                "view": OWNER_ONLY,
                "create": "@request.auth.id != ''",
                "update": OWNER_ONLY,
                "delete": OWNER_ONLY,
            },
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def people(make_user):
    alice = make_user("alice@example.com")
    bob = make_user("bob@example.com")
    return (
        alice,
        client_with(login("alice@example.com", USER_PASSWORD)),
        bob,
        client_with(login("bob@example.com", USER_PASSWORD)),
    )


def _note(client, owner_id):
    response = client.post(
        RECORDS.format("notes"),
        {
            "owner": owner_id,
            "photo": upload("p.png", png()),
            "secret": upload("s.txt", b"the secret"),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    return response.json()


def _token(client) -> str:
    response = client.post("/api/v1/files/token")
    assert response.status_code == 200, response.content
    assert response.json()["expires"].endswith("Z")
    return response.json()["token"]


def test_the_owner_downloads_with_a_bearer_token_or_a_file_token(notes, people, anon):
    alice, as_alice, _, _ = people
    note = _note(as_alice, alice.pk)
    url = file_url("notes", note["id"], note["secret"])
    by_header = as_alice.get(url)
    assert by_header.status_code == 200 and body_of(by_header) == b"the secret"
    assert by_header["Cache-Control"].startswith("private")
    assert by_header["X-Content-Type-Options"] == "nosniff"
    by_token = anon.get(url + "?token=" + _token(as_alice))
    assert by_token.status_code == 200 and body_of(by_token) == b"the secret"


def test_nobody_else_gets_a_private_records_files(notes, people, anon, key_client):
    alice, as_alice, _, as_bob = people
    note = _note(as_alice, alice.pk)
    for name in (note["photo"], note["secret"]):
        url = file_url("notes", note["id"], name)
        assert anon.get(url).status_code == 404
        assert as_bob.get(url).status_code == 404
        assert anon.get(url + "?token=" + _token(as_bob)).status_code == 404
        assert key_client("records:write").get(url).status_code in (403, 404)
        assert body_of(anon.get(url)).find(b"secret") == -1


def test_a_key_with_read_scope_and_a_superuser_may_download(
    notes, people, admin, key_client
):
    alice, as_alice, _, _ = people
    note = _note(as_alice, alice.pk)
    url = file_url("notes", note["id"], note["photo"])
    assert admin.get(url).status_code == 200
    assert key_client("records:read").get(url).status_code == 200


def test_bad_or_foreign_tokens_are_refused(notes, people, anon):
    alice, as_alice, _, _ = people
    note = _note(as_alice, alice.pk)
    url = file_url("notes", note["id"], note["photo"])
    assert anon.get(url + "?token=garbage").status_code == 401
    access = as_alice._credentials["HTTP_AUTHORIZATION"].split()[1]
    assert anon.get(url + "?token=" + access).status_code == 401  # not a file token
    _, key = apikey_create(name="k", scopes=["records:read"])
    assert anon.get(url + "?token=" + key).status_code == 401
    assert client_with(key).post("/api/v1/files/token").status_code == 403
    assert anon.post("/api/v1/files/token").status_code == 401


def test_a_file_token_dies_with_its_session(notes, people, anon):
    alice, as_alice, _, _ = people
    note = _note(as_alice, alice.pk)
    token = _token(as_alice)
    assert as_alice.delete("/api/v1/auth/session").status_code in (200, 401)
    url = file_url("notes", note["id"], note["photo"]) + "?token=" + token
    assert anon.get(url).status_code == 401


def test_a_protected_field_of_a_public_record_needs_a_token(admin, anon, app_user):
    admin.post(
        "/api/v1/collections",
        {
            "name": "shared",
            "fields": [
                {"name": "doc", "type": "file", "options": {"protected": True}},
                {"name": "pic", "type": "file"},
            ],
            "rules": {"list": "", "view": "", "create": ""},
        },
        format="json",
    )
    record = anon.post(
        RECORDS.format("shared"),
        {"doc": upload("d.txt", b"doc"), "pic": upload("p.png", png())},
        format="multipart",
    ).json()
    protected = file_url("shared", record["id"], record["doc"])
    refused = anon.get(protected)
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["code"] == "file_token_required"
    user = client_with(login(app_user.email, USER_PASSWORD))
    assert anon.get(protected + "?token=" + _token(user)).status_code == 200
    public = anon.get(file_url("shared", record["id"], record["pic"]))
    assert public.status_code == 200 and public["Cache-Control"].startswith("public")


def test_a_hidden_field_s_files_are_not_served(admin, anon):
    admin.post(
        "/api/v1/collections",
        {
            "name": "hiding",
            "fields": [{"name": "f", "type": "file", "hidden": True}],
            "rules": {"list": "", "view": "", "create": ""},
        },
        format="json",
    )
    created = admin.post(
        RECORDS.format("hiding"), {"f": upload("x.txt", b"x")}, format="multipart"
    ).json()
    assert anon.get(file_url("hiding", created["id"], created["f"])).status_code == 404
