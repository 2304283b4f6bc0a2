"""The Python SDK's files (sdk/python) against a real server over HTTP: uploads with
create/update and modifiers, downloads and thumbnails by `files.url`, protected files by
file token, and what the server refuses."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest
from PIL import Image

PYTHON_SDK = Path(__file__).resolve().parents[2] / "sdk" / "python"
if str(PYTHON_SDK) not in sys.path:
    sys.path.insert(0, str(PYTHON_SDK))

from baas_client import BaasError, Client, new_idempotency_key  # noqa: E402

FILES = "sdk_py_files"
OPEN_RULES = {"list": "", "view": "", "create": "", "update": "", "delete": ""}
FIELDS = [
    {"name": "title", "type": "text"},
    {
        "name": "avatar",
        "type": "file",
        "options": {
            "multiple": False,
            "max_size": 1048576,
            "mime_types": ["image/png"],
            "thumbs": ["50x50"],
            "protected": False,
        },
    },
    {"name": "docs", "type": "file", "options": {"multiple": True}},
    {"name": "secret", "type": "file", "options": {"protected": True}},
]


def png_bytes(width: int = 120, height: int = 80) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


PNG = png_bytes()


def stored(name: str, base: str, ext: str) -> bool:
    """A stored name: the sanitised base, a random suffix, the extension."""
    return re.fullmatch(rf"{base}_[a-z0-9]{{10}}\.{ext}", name) is not None


@pytest.fixture
def client(server_url, credentials):
    """A superuser's client for the live server, closed after the test."""
    client = Client(server_url)
    client.auth.login(*credentials)
    yield client
    client.close()


@pytest.fixture
def files(client):
    client.collections.create({"name": FILES, "fields": FIELDS, "rules": OPEN_RULES})
    return client.collection(FILES)


@pytest.fixture
def me_png(tmp_path) -> Path:
    path = tmp_path / "me.png"
    path.write_bytes(PNG)
    return path


def get(client: Client, url: str, **headers: str):
    """A plain GET of a file URL, without the client's credentials."""
    return client.session.get(url, headers=headers, timeout=30)


def test_upload_download_and_thumbnail(client, files, me_png):
    record = files.create({"title": "x", "avatar": me_png})
    assert record["title"] == "x"
    assert stored(record["avatar"], "me", "png"), record["avatar"]
    assert record["docs"] == []

    url = client.files.url(FILES, record["id"], record["avatar"])
    response = get(client, url)
    assert response.status_code == 200, response.text
    assert response.content == PNG
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert response.headers["Content-Disposition"].startswith("inline")

    saved = get(
        client, client.files.url(FILES, record["id"], record["avatar"], download=True)
    )
    assert saved.headers["Content-Disposition"].startswith("attachment")

    thumb = get(
        client, client.files.url(FILES, record["id"], record["avatar"], thumb="50x50")
    )
    assert thumb.status_code == 200, thumb.text
    assert Image.open(io.BytesIO(thumb.content)).size == (50, 50)

    refused = get(
        client, client.files.url(FILES, record["id"], record["avatar"], thumb="10x10")
    )
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["code"] == "thumb_not_allowed"


def test_a_single_file_is_replaced_and_removed(client, files, me_png):
    record = files.create({"avatar": me_png})
    first = record["avatar"]
    with me_png.open("rb") as opened:
        record = files.update(record["id"], {"avatar": opened})
    assert record["avatar"] != first and stored(record["avatar"], "me", "png")
    assert get(client, client.files.url(FILES, record["id"], first)).status_code == 404

    record = files.update(record["id"], {"avatar": None})
    assert record["avatar"] is None


def test_multiple_files_are_set_appended_removed_and_reordered(client, files):
    record = files.create(
        {"docs": [("a.txt", b"alpha", "text/plain"), ("b.txt", b"bravo")]}
    )
    a, b = record["docs"]
    assert stored(a, "a", "txt") and stored(b, "b", "txt")

    record = files.update(record["id"], {"docs+": [("c.txt", io.BytesIO(b"charlie"))]})
    assert record["docs"][:2] == [a, b] and len(record["docs"]) == 3
    c = record["docs"][2]
    assert get(client, client.files.url(FILES, record["id"], c)).content == b"charlie"

    record = files.update(record["id"], {"docs-": [a]})
    assert record["docs"] == [b, c]
    record = files.update(record["id"], {"docs": [c, b]})
    assert record["docs"] == [c, b]
    record = files.update(record["id"], {"docs-": b, "title": "kept one"})
    assert (record["docs"], record["title"]) == ([c], "kept one")
    record = files.update(record["id"], {"docs": []})
    assert record["docs"] == []
    assert get(client, client.files.url(FILES, record["id"], c)).status_code == 404


def test_the_server_judges_type_by_content_and_size(files):
    with pytest.raises(BaasError) as caught:
        files.create({"avatar": ("fake.png", b"just some text", "image/png")})
    assert (caught.value.status, caught.value.code) == (400, "file_type_not_allowed")
    assert caught.value.param == "avatar"

    too_big = PNG + b"\0" * (1048576 + 1 - len(PNG))
    with pytest.raises(BaasError) as caught:
        files.create({"avatar": ("big.png", too_big)})
    assert (caught.value.status, caught.value.code) == (413, "file_too_large")
    assert caught.value.param == "avatar"


def test_a_protected_file_needs_a_file_token(client, files):
    record = files.create({"secret": ("notes.txt", b"for my eyes")})
    url = client.files.url(FILES, record["id"], record["secret"])
    anonymous = get(client, url)
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["code"] == "file_token_required"

    token = client.files.get_token()
    assert client.files.get_token() == token  # cached
    url = client.files.url(FILES, record["id"], record["secret"], token=token)
    allowed = get(client, url)
    assert allowed.status_code == 200, allowed.text
    assert allowed.content == b"for my eyes"


def test_a_retried_upload_with_its_idempotency_key_runs_once(files, me_png):
    key = new_idempotency_key()
    first = files.create({"title": "once", "avatar": me_png}, idempotency_key=key)
    again = files.create({"title": "once", "avatar": me_png}, idempotency_key=key)
    assert again == first
    assert files.list(filter='title = "once"', count=True).total == 1


def test_direct_uploads_go_to_s3_storage_or_are_refused(client, files, me_png):
    """On S3-compatible storage (the PostgreSQL profile of scripts/test) the bytes go
    straight to the bucket; on local storage the server says so."""
    from django.conf import settings

    record = files.create({"title": "x"})
    if not settings.BAAS_S3_BUCKET:
        with pytest.raises(BaasError) as caught:
            client.files.upload(FILES, record["id"], "docs", me_png)
        assert (caught.value.status, caught.value.code) == (
            409,
            "direct_uploads_unavailable",
        )
        return
    updated = client.files.upload(FILES, record["id"], "docs", me_png)
    (name,) = updated["docs"]
    assert name.startswith("me_") and name.endswith(".png")
    downloaded = get(client, client.files.url(FILES, record["id"], name))
    assert downloaded.status_code == 200
    assert downloaded.content == me_png.read_bytes()
