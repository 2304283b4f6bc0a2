"""HTTP/1.1 over a plain socket: requests exactly as written (chunked bodies, bodies sent
after a pause, several requests on one kept-alive connection), responses as they come."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field


class Closed(Exception):
    """The server closed the connection before a whole response arrived."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes = field(repr=False)

    def json(self):
        return json.loads(self.body)


def chunked(body: bytes, size: int = 7) -> bytes:
    """`body` in chunks of `size` bytes, as a client streaming it would send it."""
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Connection:
    """One kept-alive connection to 127.0.0.1:port."""

    def __init__(self, port: int, timeout: float = 30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise Closed(f"connection closed; received so far: {self.buffer[:200]!r}")
        self.buffer += data

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def response(self) -> Response:
        status_line = self._line()
        headers: dict[str, str] = {}
        while line := self._line():
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        status = int(status_line.split()[1])
        if "content-length" in headers:
            body = self._take(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            parts = []
            while size := int(self._line().split(b";")[0], 16):
                parts.append(self._take(size))
                self._take(2)
            while self._line():  # trailers, then the empty line
                pass
            body = b"".join(parts)
        else:
            body = b""
        return Response(status, headers, body)

    def closed_by_server(self, wait: float = 0.5) -> bool:
        """Whether the server closes the connection within `wait` seconds."""
        self.sock.settimeout(wait)
        try:
            return self.sock.recv(1) == b""
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    headers: dict[str, str] | None = None,
    chunked_body: bool = False,
) -> Response:
    """One request on a new connection; a chunked body carries no Content-Length."""
    headers = dict(headers or {})
    if body is not None:
        if chunked_body:
            headers["Transfer-Encoding"] = "chunked"
            body = chunked(body)
        else:
            headers["Content-Length"] = str(len(body))
    with Connection(port) as conn:
        conn.send(head(method, path, headers) + (body or b""))
        return conn.response()
