"""Uploads through `baas serve`: a 500 MB file streams to storage with the server's
memory flat, a file over its field's limit is refused while it is still being sent, and
a chunked multipart body works. The peak RSS is printed (bench/RESULTS.md records it)."""

from __future__ import annotations

import socket

import pytest
import requests

from tests.e2e import servers
from tests.e2e.servers import EMAIL, PASSWORD

pytestmark = pytest.mark.slow

MB = 1024 * 1024
BIG = 500 * MB
#: how much more memory the whole server (every process) may hold at its peak while a
#: 500 MB upload streams through than before it: far below the file's size
GROWTH_LIMIT = 64 * MB


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("uploads-data")


@pytest.fixture(scope="module")
def served(data_dir):
    with servers.serving(data_dir) as (server, _):
        yield server


@pytest.fixture(scope="module")
def api(served):
    api = servers.login(servers.url_in(served.stdout()), EMAIL, PASSWORD)
    response = api.post(
        "/api/v1/collections",
        {
            "name": "videos",
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "clip", "type": "file", "options": {"max_size": 600 * MB}},
                {"name": "small", "type": "file", "options": {"max_size": MB}},
            ],
        },
    )
    assert response.status_code == 201, response.text
    return api


def _peaks(served) -> dict[str, int]:
    """Every server process's peak resident memory (VmHWM) in bytes, by pid and name."""
    peaks = {}
    for info in [servers._read_proc(served.pid), *served.children()]:
        if info is None:
            continue
        try:
            with open(f"/proc/{info.pid}/status") as status:
                for line in status:
                    if line.startswith("Name:"):
                        name = line.split()[1]
                    if line.startswith("VmHWM:"):
                        peaks[f"{info.pid} {name}"] = int(line.split()[1]) * 1024
        except FileNotFoundError:
            pass
    return peaks


def _peak_rss(served) -> int:
    """The sum of every server process's peak resident memory (VmHWM), in bytes."""
    return sum(_peaks(served).values())


def _zeros(size: int, chunk: int = MB):
    block = b"\0" * chunk
    sent = 0
    while sent < size:
        step = min(chunk, size - sent)
        sent += step
        yield block[:step]


def _multipart(boundary: str, name: str, filename: str, size: int):
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nbig\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    yield from _zeros(size)
    yield f"\r\n--{boundary}--\r\n".encode()


class _Body:
    """A request body of known length read in blocks: requests sends Content-Length."""

    def __init__(self, parts) -> None:
        self.parts = iter(parts)
        self.buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self.buffer) < size:
            part = next(self.parts, None)
            if part is None:
                break
            self.buffer += part
        if size < 0:
            size = len(self.buffer)
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data


def test_a_500_mb_upload_keeps_the_servers_memory_flat(served, api):
    # First, a small upload on every worker: imports and first-use caches (boto3's
    # clients, libmagic's database) are not what this measures.
    for _ in range(8):
        warm = api.session.post(
            api.base_url + "/api/v1/collections/videos/records",
            files={"small": ("w.bin", b"w" * 1000)},
            timeout=60,
        )
        assert warm.status_code == 201, warm.text
    before = _peak_rss(served)
    peaks_before = _peaks(served)
    boundary = "baasboundary7f3a"
    body_size = sum(len(p) for p in _multipart(boundary, "clip", "movie.mp4", 0)) + BIG
    response = api.session.post(
        api.base_url + "/api/v1/collections/videos/records",
        data=_Body(_multipart(boundary, "clip", "movie.mp4", BIG)),
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(body_size),
        },
        timeout=600,
    )
    assert response.status_code == 201, response.text
    after = _peak_rss(served)
    print(
        f"\n500 MB upload: server peak RSS {before / MB:.0f} MB before, "
        f"{after / MB:.0f} MB after (growth {(after - before) / MB:.0f} MB)"
    )
    grown = {
        pid: (peak - peaks_before.get(pid, 0)) // MB
        for pid, peak in _peaks(served).items()
        if peak - peaks_before.get(pid, 0) > MB
    }
    assert after - before < GROWTH_LIMIT, f"grown (MB) by process: {grown}"
    record = response.json()
    head = api.session.head(
        f"{api.base_url}/api/v1/files/videos/{record['id']}/{record['clip']}",
        allow_redirects=False,
    )
    if head.status_code == 302:  # S3: large downloads go to a presigned URL
        head = requests.head(head.headers["Location"], timeout=30)
    assert head.status_code == 200, (head.status_code, head.headers)
    assert int(head.headers["Content-Length"]) == BIG


def test_a_chunked_multipart_upload_works(served, api):
    boundary = "chunkedboundary"
    response = api.session.post(
        api.base_url + "/api/v1/collections/videos/records",
        data=_multipart(boundary, "small", "a.bin", 1000),  # a generator: chunked
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=60,
    )
    assert response.status_code == 201, response.text
    assert response.json()["small"].startswith("a_")


def test_a_file_over_its_limit_is_refused_before_the_body_is_sent(served, api):
    """The 413 arrives while the client still holds most of a 50 MB body."""
    boundary = "limitboundary"
    head = b"".join(_multipart(boundary, "small", "big.bin", 0))[
        : -len(f"\r\n--{boundary}--\r\n")
    ]
    size = 50 * MB
    tail = f"\r\n--{boundary}--\r\n".encode()
    host, port = "127.0.0.1", served.port
    with socket.create_connection((host, port), timeout=30) as sock:
        request = (
            f"POST /api/v1/collections/videos/records HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {api.token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(head) + size + len(tail)}\r\n\r\n"
        ).encode()
        sock.sendall(request + head)
        sent = 0
        sock.settimeout(0.05)
        answer = b""
        while sent < size and b"\r\n\r\n" not in answer:
            chunk = b"\0" * (256 * 1024)
            try:
                sock.sendall(chunk)
                sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                answer += sock.recv(65536)
            except TimeoutError:
                pass
        sock.settimeout(30)
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"file_too_large" in answer or b"\r\n\r\n" in answer
    assert sent < size // 2, f"the server let {sent} of {size} bytes in first"
