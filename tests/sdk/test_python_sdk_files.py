"""The Python SDK's files (sdk/python) without the BaaS server: a tiny local HTTP server
records what the client sends (multipart bodies, modifiers, tokens, direct uploads)."""

from __future__ import annotations

import io
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

PYTHON_SDK = Path(__file__).resolve().parents[2] / "sdk" / "python"
if str(PYTHON_SDK) not in sys.path:
    sys.path.insert(0, str(PYTHON_SDK))

from baas_client import BaasError, Client  # noqa: E402
from baas_client._multipart import CHUNK  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3
RECORD = {"id": "r1", "title": "x", "avatar": "me_k3j4h5g6f7.png", "docs": []}


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def parts(self) -> list[tuple[dict[str, str], bytes]]:
        """The multipart parts: `[(headers, data), ...]` (lower-case header names)."""
        kind = self.headers["content-type"]
        assert kind.startswith("multipart/form-data; boundary="), kind
        boundary = kind.split("boundary=", 1)[1].encode()
        chunks = self.body.split(b"--" + boundary)
        assert chunks[0] == b"" and chunks[-1] == b"--\r\n", self.body[-80:]
        parts = []
        for chunk in chunks[1:-1]:
            assert chunk.startswith(b"\r\n") and chunk.endswith(b"\r\n")
            head, _, data = chunk[2:-2].partition(b"\r\n\r\n")
            headers = {}
            for line in head.decode().split("\r\n"):
                name, _, value = line.partition(": ")
                headers[name.lower()] = value
            parts.append((headers, data))
        return parts

    def summary(self) -> tuple[list[str], Any, list[tuple[str, str, str, bytes]]]:
        """Part names in order, the decoded `@jsonPayload`, and the files as
        `(name, filename, content type, bytes)`."""
        names, payload, files = [], None, []
        for headers, data in self.parts():
            disposition = headers["content-disposition"]
            name = disposition.split('name="', 1)[1].split('"', 1)[0]
            names.append(name)
            if "; filename=" in disposition:
                filename = disposition.split('filename="', 1)[1].rsplit('"', 1)[0]
                files.append((name, filename, headers["content-type"], data))
            else:
                assert name == "@jsonPayload"
                payload = json.loads(data)
        return names, payload, files


Answer = tuple[int, Any, dict[str, str]]


@dataclass
class FakeServer:
    """Answers every request with `respond(seen)` and keeps what it received."""

    url: str
    seen: list[Seen] = field(default_factory=list)
    respond: Callable[[Seen], Answer] = lambda seen: (200, RECORD, {})


@pytest.fixture
def server() -> Iterator[FakeServer]:
    state = FakeServer(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            assert "transfer-encoding" not in headers, "bodies carry a Content-Length"
            length = int(headers.get("content-length", 0))
            seen = Seen(self.command, self.path, headers, self.rfile.read(length))
            state.seen.append(seen)
            status, body, extra = state.respond(seen)
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = _any

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def connect(server) -> Iterator[Callable[..., Client]]:
    clients: list[Client] = []

    def make(**options: Any) -> Client:
        client = Client(server.url, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def png(tmp_path) -> Path:
    path = tmp_path / "me.png"
    path.write_bytes(PNG)
    return path


# --- URLs ---------------------------------------------------------------------------


def test_url_builds_the_download_url_with_thumb_token_and_download():
    files = Client("https://api.example.com/").files
    assert (
        files.url("posts", "r1", "me_k3j4h5g6f7.png")
        == "https://api.example.com/api/v1/files/posts/r1/me_k3j4h5g6f7.png"
    )
    assert files.url(
        "posts", "r1", "me.png", thumb="100x100t", token="a.b/c", download=True
    ) == (
        "https://api.example.com/api/v1/files/posts/r1/me.png"
        "?thumb=100x100t&token=a.b%2Fc&download=1"
    )
    assert (
        files.url("my posts", "r/1", "a b#?.png", thumb="", download=False)
        == "https://api.example.com/api/v1/files/my%20posts/r%2F1/a%20b%23%3F.png"
    )


# --- multipart bodies ---------------------------------------------------------------


def test_a_record_without_files_is_still_json(server, connect):
    posts = connect(token="t").collection("posts")
    posts.create({"title": "x", "avatar": None, "docs": []})
    [seen] = server.seen
    assert seen.headers["content-type"] == "application/json"
    assert seen.json() == {"title": "x", "avatar": None, "docs": []}


def test_create_with_a_path_streams_multipart_with_a_json_payload(server, connect, png):
    server.respond = lambda seen: (201, RECORD, {})
    posts = connect(token="t").collection("posts")
    data = {"title": "Héllo", "rank": 2, "meta": {"n": 1.5}, "tags": ["a"]}
    assert posts.create({**data, "avatar": png}) == RECORD
    [seen] = server.seen
    assert (seen.method, seen.path) == ("POST", "/api/v1/collections/posts/records")
    assert seen.headers["authorization"] == "Bearer t"
    assert seen.headers["content-length"] == str(len(seen.body))
    names, payload, files = seen.summary()
    assert names == ["@jsonPayload", "avatar"]
    assert payload == data
    assert files == [("avatar", "me.png", "image/png", PNG)]


def test_file_objects_tuples_lists_and_modifiers(server, connect, png):
    posts = connect().collection("posts")
    with png.open("rb") as opened:
        posts.update(
            "r1",
            {
                "docs": [
                    opened,
                    ("notes.txt", b"some notes", "text/plain"),
                    ("scan", io.BytesIO(b"%PDF-1.4"), None),
                ]
            },
        )
    posts.update(
        "r1",
        {"docs+": [("b.pdf", b"bb")], "docs-": ["old_k3j4h5g6f7.pdf"], "title": "y"},
    )
    posts.update("r1", {"docs+": ("c.pdf", b"c", "application/pdf")})
    posts.update("r1", {"avatar": ("renamed.png", png)})

    first, second, third, fourth = server.seen
    assert (first.method, first.path) == (
        "PATCH",
        "/api/v1/collections/posts/records/r1",
    )
    names, payload, files = first.summary()
    assert names == ["docs", "docs", "docs"]
    assert payload is None
    assert files == [
        ("docs", "me.png", "image/png", PNG),
        ("docs", "notes.txt", "text/plain", b"some notes"),
        ("docs", "scan", "application/octet-stream", b"%PDF-1.4"),
    ]
    names, payload, files = second.summary()
    assert names == ["@jsonPayload", "docs+"]
    assert payload == {"docs-": ["old_k3j4h5g6f7.pdf"], "title": "y"}
    assert files == [("docs+", "b.pdf", "application/pdf", b"bb")]
    assert third.summary()[0] == ["docs+"]
    assert fourth.summary()[2] == [("avatar", "renamed.png", "image/png", PNG)]


def test_a_removal_alone_needs_no_multipart(server, connect):
    connect().collection("posts").update(
        "r1", {"avatar": None, "docs-": "a_k3j4h5g6f7.pdf"}
    )
    assert server.seen[0].headers["content-type"] == "application/json"
    assert server.seen[0].json() == {"avatar": None, "docs-": "a_k3j4h5g6f7.pdf"}


def test_a_file_is_sent_from_its_current_position(server, connect):
    stream = io.BytesIO(b"HEADER" + PNG)
    stream.seek(6)
    connect().collection("posts").create({"avatar": ("me.png", stream)})
    assert server.seen[0].summary()[2][0][3] == PNG


def test_a_non_seekable_stream_still_gets_a_content_length(server, connect):
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

        def readinto(self, buffer: Any) -> int:
            chunk = self._data.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    connect().collection("posts").create({"avatar": ("me.png", Pipe(PNG))})
    [seen] = server.seen
    assert seen.headers["content-length"] == str(len(seen.body))
    assert seen.summary()[2][0][3] == PNG


def test_files_are_read_in_blocks_never_whole(server, connect):
    big = bytes(range(256)) * (CHUNK // 64)  # 4 blocks

    class Watched(io.BytesIO):
        sizes: list[int] = []

        def read(self, size: int | None = -1) -> bytes:
            self.sizes.append(-1 if size is None else size)
            return super().read(size)

    source = Watched(big)
    connect().collection("posts").create({"docs": ("big.bin", source)})
    assert server.seen[0].summary()[2][0][3] == big
    assert Watched.sizes and all(0 < size <= CHUNK for size in Watched.sizes)


def test_names_are_escaped_in_the_part_headers(server, connect):
    connect().collection("posts").create(
        {'we"ird\\field': ('a "quoted"\r\nnamé.png', b"x")}
    )
    [(headers, _)] = server.seen[0].parts()
    assert headers["content-disposition"] == (
        'form-data; name="we%22ird%5Cfield"; filename="a %22quoted%22%0D%0Anamé.png"'
    )


def test_django_reads_the_body_the_sdk_sends(server, connect, png):
    from django.core.files.uploadhandler import MemoryFileUploadHandler
    from django.http.multipartparser import MultiPartParser

    connect().collection("posts").create(
        {"title": "x", "docs+": [png, ("b.pdf", b"bb")], "avatar": png}
    )
    [seen] = server.seen
    meta = {
        "CONTENT_TYPE": seen.headers["content-type"],
        "CONTENT_LENGTH": seen.headers["content-length"],
    }
    post, files = MultiPartParser(
        meta, io.BytesIO(seen.body), [MemoryFileUploadHandler()]
    ).parse()
    assert json.loads(post["@jsonPayload"]) == {"title": "x"}
    assert [f.name for f in files.getlist("docs+")] == ["me.png", "b.pdf"]
    assert files["avatar"].read() == PNG


def test_a_401_refreshes_and_sends_the_files_again(server, connect, png):
    def respond(seen: Seen) -> Answer:
        if seen.path.endswith("/tokens/refresh"):
            tokens = {"access_token": "a2", "refresh_token": "r2"}
            return 200, {"status": 200, "data": tokens}, {}
        if seen.headers.get("authorization") == "Bearer a2":
            return 201, RECORD, {}
        return 401, {"status": 401, "errors": [{"code": "invalid", "message": "x"}]}, {}

    server.respond = respond
    client = connect(token="a1", refresh_token="r1")
    with png.open("rb") as opened:
        client.collection("posts").create({"title": "x", "avatar": opened})
    first, _, retry = server.seen
    assert retry.summary() == first.summary()
    assert retry.summary()[2][0][3] == PNG


def test_a_413_is_a_baas_error_naming_the_field(server, connect, png):
    error = {"code": "file_too_large", "message": "Too large.", "param": "avatar"}
    server.respond = lambda seen: (413, {"status": 413, "errors": [error]}, {})
    with pytest.raises(BaasError) as caught:
        connect().collection("posts").create({"avatar": png})
    assert (caught.value.status, caught.value.code) == (413, "file_too_large")
    assert caught.value.param == "avatar"


def test_mixed_lists_text_files_and_batch_files_are_refused(server, connect, png):
    posts = connect().collection("posts")
    with pytest.raises(TypeError, match="docs\\+"):
        posts.update("r1", {"docs": ["kept.pdf", png]})
    with png.open("r", encoding="latin-1") as text, pytest.raises(TypeError):
        posts.create({"avatar": text})
    with pytest.raises(TypeError):
        posts.op_create({"avatar": png})
    with pytest.raises(TypeError):
        posts.op_update("r1", {"docs+": [png]})
    assert posts.op_update("r1", {"docs-": ["a.pdf"]})["body"] == {"docs-": ["a.pdf"]}
    assert server.seen == []


def test_update_with_etag_keeps_if_match_and_the_idempotency_key(server, connect):
    server.respond = lambda seen: (200, RECORD, {"ETag": '"v2"'})
    posts = connect().collection("posts")
    answer = posts.update_with_etag(
        "r1", {"avatar": ("a.png", PNG)}, if_match='"v1"', idempotency_key="k1"
    )
    assert (answer.record, answer.etag) == (RECORD, '"v2"')
    [seen] = server.seen
    assert seen.headers["if-match"] == '"v1"'
    assert seen.headers["idempotency-key"] == "k1"


# --- file tokens --------------------------------------------------------------------


def token_server(server: FakeServer, lifetime: float = 120) -> None:
    issued = []

    def respond(seen: Seen) -> Answer:
        issued.append(seen)
        time.sleep(0.02)
        expires = time.strftime(
            "%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + lifetime)
        )
        body = {"token": f"ft{len(issued)}", "expires": expires}
        return 200, body, {"Date": formatdate(usegmt=True)}

    server.respond = respond


def test_get_token_asks_once_and_reuses_the_token(server, connect):
    token_server(server)
    files = connect(token="access").files
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(files.get_token()))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["ft1"] * 4
    assert files.get_token() == "ft1"
    [seen] = server.seen
    assert (seen.method, seen.path, seen.body) == ("POST", "/api/v1/files/token", b"")
    assert seen.headers["authorization"] == "Bearer access"


def test_a_token_about_to_expire_is_replaced(server, connect):
    token_server(server, lifetime=9)
    files = connect(token="access").files
    assert [files.get_token(), files.get_token()] == ["ft1", "ft2"]


def test_another_user_gets_another_token(server, connect):
    token_server(server)
    client = connect(token="alice")
    assert client.files.get_token() == "ft1"
    client.auth.set_tokens("bob", None)
    assert client.files.get_token() == "ft2"
    assert server.seen[1].headers["authorization"] == "Bearer bob"


# --- direct uploads -----------------------------------------------------------------


def storage_server(server: FakeServer, storage_status: int = 200) -> None:
    def respond(seen: Seen) -> Answer:
        if seen.path.startswith("/bucket/"):
            return storage_status, None, {}
        if seen.path == "/api/v1/files/uploads":
            upload = {
                "id": "up 1",
                "method": "PUT",
                "url": f"{server.url}/bucket/k/report.pdf?X-Amz-Signature=s",
                "headers": {"Content-Type": "application/pdf"},
                "expires": "2026-12-07T10:00:00.000Z",
            }
            return 201, upload, {}
        return 200, {**RECORD, "docs": ["report_k3j4h5g6f7.pdf"]}, {}

    server.respond = respond


def test_upload_begins_puts_the_exact_bytes_and_completes(server, connect, tmp_path):
    storage_server(server)
    report = tmp_path / "report.pdf"
    report.write_bytes(PNG)
    record = connect(token="t").files.upload("posts", "r1", "docs", report)
    assert record["docs"] == ["report_k3j4h5g6f7.pdf"]

    begin, put, complete = server.seen
    assert (begin.method, begin.path) == ("POST", "/api/v1/files/uploads")
    assert begin.headers["authorization"] == "Bearer t"
    assert begin.json() == {
        "collection": "posts",
        "record": "r1",
        "field": "docs",
        "name": "report.pdf",
        "size": len(PNG),
    }
    assert (put.method, put.path) == ("PUT", "/bucket/k/report.pdf?X-Amz-Signature=s")
    assert "authorization" not in put.headers
    assert put.headers["content-type"] == "application/pdf"
    assert put.headers["content-length"] == str(len(PNG))
    assert put.body == PNG
    assert (complete.method, complete.path) == (
        "POST",
        "/api/v1/files/uploads/up%201/complete",
    )
    assert complete.headers["authorization"] == "Bearer t"


def test_upload_of_a_file_object_takes_a_name(server, connect):
    storage_server(server)
    files = connect().files
    files.upload("posts", "r1", "docs", io.BytesIO(PNG), name="scan.pdf")
    assert server.seen[0].json()["name"] == "scan.pdf"
    assert server.seen[1].body == PNG


def test_a_storage_refusal_is_upload_failed_and_nothing_completes(server, connect):
    storage_server(server, storage_status=403)
    with pytest.raises(BaasError) as caught:
        connect().files.upload("posts", "r1", "docs", ("a.pdf", PNG))
    assert (caught.value.status, caught.value.code) == (403, "upload_failed")
    assert len(server.seen) == 2


def test_local_storage_answers_409_direct_uploads_unavailable(server, connect):
    error = {"code": "direct_uploads_unavailable", "message": "Local storage."}
    server.respond = lambda seen: (409, {"status": 409, "errors": [error]}, {})
    with pytest.raises(BaasError) as caught:
        connect().files.upload("posts", "r1", "docs", ("a.pdf", PNG))
    assert caught.value.code == "direct_uploads_unavailable"
    assert len(server.seen) == 1
