"""A hostile corpus: each file is refused or neutralised, none served inline as active
content, none runs in the API's origin."""

from __future__ import annotations

import io
import zipfile

import pytest

from tests.files.helpers import RECORDS, body_of, file_url, png, png_header_only, upload

pytestmark = pytest.mark.usefixtures("schema_db")

SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">'
    b"<script>alert(document.cookie)</script></svg>"
)
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
XML = b'<?xml version="1.0"?><x:script xmlns:x="http://www.w3.org/1999/xhtml">1</x:script>'
PDF_JS = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/OpenAction<</S/JavaScript/JS(app.alert(1))>>>>"
    b"endobj\ntrailer<</Root 1 0 R>>\n%%EOF"
)


def zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\0" * 20_000_000)
    return out.getvalue()


@pytest.fixture
def box(admin):
    response = admin.post(
        "/api/v1/collections",
        {
            "name": "box",
            "fields": [
                {"name": "any", "type": "file", "options": {"multiple": True}},
                {
                    "name": "image",
                    "type": "file",
                    "options": {
                        "mime_types": ["image/png", "image/jpeg"],
                        "thumbs": ["10x10"],
                    },
                },
            ],
            "rules": {"list": "", "view": "", "create": "", "update": ""},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def _put(anon, field, name, content):
    return anon.post(
        RECORDS.format("box"),
        {field: upload(name, content, "image/png")},
        format="multipart",
    )


@pytest.mark.parametrize(
    "name, content",
    [
        ("x.svg", SVG),
        ("x.html.", HTML),
        ("index.html", HTML),
        ("x.xml", XML),
        ("doc.pdf", PDF_JS),
        ("cat.png", HTML),  # claims image/png, is HTML
        ("polyglot.png", png() + HTML),  # a PNG with HTML after its end
        ("bomb.zip", zip_bomb()),
    ],
)
def test_active_or_unknown_content_is_only_ever_a_download(box, anon, name, content):
    response = _put(anon, "any", name, content)
    assert response.status_code == 201, response.content
    record = response.json()
    stored = record["any"][0]
    got = anon.get(file_url("box", record["id"], stored))
    assert got.status_code == 200
    assert got["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in got["Content-Security-Policy"]
    assert "script-src" not in got["Content-Security-Policy"]
    content_type = got["Content-Type"]
    if content_type == "image/png":  # the polyglot is a PNG to a browser: inert
        assert got["Content-Disposition"].startswith("inline")
    else:
        assert got["Content-Disposition"].startswith("attachment"), content_type
        assert content_type not in ("image/png", "image/jpeg")
    assert body_of(got) == content  # stored as sent; never decompressed or run


@pytest.mark.parametrize(
    "name, content", [("x.svg", SVG), ("cat.png", HTML), ("z.zip", zip_bomb())]
)
def test_an_image_field_refuses_what_is_not_an_allowed_image(box, anon, name, content):
    response = _put(anon, "image", name, content)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "file_type_not_allowed"


def test_a_decompression_bomb_is_stored_but_never_thumbnailed(box, anon):
    bomb = png_header_only(50_000, 50_000)
    record = _put(anon, "image", "bomb.png", bomb).json()
    url = file_url("box", record["id"], record["image"])
    refused = anon.get(url + "?thumb=10x10")
    assert refused.status_code == 413
    assert refused.json()["errors"][0]["code"] == "image_too_large"
    assert anon.get(url).status_code == 200


def test_download_forces_an_attachment(box, anon):
    record = _put(anon, "image", "p.png", png()).json()
    got = anon.get(file_url("box", record["id"], record["image"]) + "?download=1")
    assert got["Content-Disposition"].startswith("attachment")
