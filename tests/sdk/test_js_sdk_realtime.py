"""The JavaScript SDK's realtime client (sdk/js/src/realtime.js) against `baas serve`.

Django's `live_server` speaks WSGI only, so the real server runs here (REST and WebSocket
on one port) and sdk/js/test/realtime-live.test.mjs runs against it in Node. Half way,
the Node suite asks (POST to a small control endpoint served by this module) for the
server to be stopped, for records to be written while it is down (through the records
service, on the same data directory), and for a new server on the same port and data
directory; its subscriber must then have every record once, in order.
"""

from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from tests.e2e import servers
from tests.e2e.servers import EMAIL, PASSWORD, READY_LINE, create_superuser
from tests.sdk.conftest import JS_SDK, ROOT
from tests.sdk.test_js_sdk import node_binary, run_node_suite

# The SDK's behaviour does not depend on the server's profile, whose realtime paths the
# server's own tests cover on both (tests/realtime, tests/e2e): run once, on SQLite.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        servers.postgres_profile(), reason="SDK realtime: run on the SQLite profile"
    ),
]

SUITE = JS_SDK / "test" / "realtime-live.test.mjs"
# No worker and beat: nothing here needs them, and the restart is quicker without.
SERVE = ["serve", "--no-worker", "--workers", "1"]
POSTS = "rt_posts"  # everyone reads and writes
NOTES = "rt_notes"  # each user sees their own
CHANNELS = "room-*"  # presence on, open to everyone
USERS = {"ALICE": "alice.rt@example.com", "BOB": "bob.rt@example.com"}
USER_PASSWORD = "correct-horse-battery-43"

# Records written while the server is down: through the records service, as a write by
# another process would be (it logs the change; the next server replays it).
WRITE_WHILE_DOWN = f"""
import json, os
from apps.records.records import record_create
for title in json.loads(os.environ["RT_TITLES"]):
    record_create(actor=None, collection={POSTS!r}, data={{"title": title}})
"""


class Served:
    """The server under test; `restart()` replaces it with one on the same port."""

    def __init__(self, env: dict[str, str], data_dir: Path) -> None:
        self.env = env
        self.data_dir = data_dir
        self.started: list[servers.Server] = []
        self.server = self._start(None)

    def _start(self, port: int | None) -> servers.Server:
        name = f"serve-{len(self.started) + 1}"
        if port is None:
            server = servers.start_server(
                SERVE, env=self.env, log_dir=self.data_dir, name=name
            )
        else:
            server = servers.Server(
                [*SERVE, "--port", str(port)],
                env=self.env,
                log_dir=self.data_dir,
                name=name,
                port=port,
            )
        self.started.append(server)
        server.wait_for_output(READY_LINE)
        server.wait_healthy()
        return server

    @property
    def url(self) -> str:
        return self.server.url

    def restart(self, titles: list[str]) -> None:
        self.server.stop()
        if titles:
            written = subprocess.run(
                [servers.PYTHON, "manage.py", "shell", "-c", WRITE_WHILE_DOWN],
                cwd=ROOT,
                env={**self.env, "RT_TITLES": json.dumps(titles)},
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert written.returncode == 0, written.stderr
        self.server = self._start(self.server.port)

    def kill(self) -> None:
        for server in self.started:
            server.kill()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("js-realtime-data")
    with servers.backing_services() as services:
        env = servers.server_env(data_dir, BAAS_EMAIL_VERIFICATION="none", **services)
        box = None
        try:
            box = Served(env, data_dir)
            create_superuser(box.server, env)
            yield box
        finally:
            if box is not None:
                box.kill()


@pytest.fixture(scope="module")
def setup(served) -> dict[str, str]:
    """Two collections, a channel configuration and two app users, over REST."""
    admin = servers.login(served.url, EMAIL, PASSWORD)
    open_rules = {"list": "", "view": "", "create": "", "update": "", "delete": ""}
    own = "owner = @request.auth.id"
    for body in (
        {
            "name": POSTS,
            "fields": [{"name": "title", "type": "text"}],
            "rules": open_rules,
        },
        {
            "name": NOTES,
            "fields": [
                {"name": "title", "type": "text"},
                {
                    "name": "owner",
                    "type": "relation",
                    "options": {"collection": "users"},
                },
            ],
            "rules": {
                "list": own,
                "view": own,
                "create": "@request.auth.id != '' && owner = @request.auth.id",
                "update": own,
                "delete": own,
            },
        },
    ):
        response = admin.post("/api/v1/collections", body)
        assert response.status_code == 201, response.text
    response = admin.post(
        "/api/v1/channels",
        {"name": CHANNELS, "rules": {"subscribe": "", "publish": ""}, "presence": True},
    )
    assert response.status_code == 201, response.text
    env = {}
    for key, email in USERS.items():
        response = requests.post(
            f"{served.url}/api/v1/auth/signup",
            json={"email": email, "password": USER_PASSWORD},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        env[f"BAAS_{key}_EMAIL"] = email
        env[f"BAAS_{key}_PASSWORD"] = USER_PASSWORD
    return env


@pytest.fixture
def control(served):
    """POST /restart {"titles": [...]}: stop the server, write those records, start a new
    one on the same port; answers when it is healthy."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's spelling)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            try:
                assert self.path == "/restart", self.path
                served.restart(list(body.get("titles", [])))
                status, answer = 200, {"url": served.url}
            except BaseException as exc:  # reported to Node, which fails the test
                status, answer = 500, {"error": repr(exc)}
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def node_options() -> list[str]:
    """Node 22 has a global WebSocket; Node 20 behind --experimental-websocket (undici's,
    built in). Older Node has none: the SDK then needs one passed in (`ws`)."""
    node = node_binary()
    check = "process.exit(typeof WebSocket === 'function' ? 0 : 1)"
    for flags in ([], ["--experimental-websocket"]):
        probe = subprocess.run(
            [node, *flags, "-e", check], capture_output=True, check=False
        )
        if probe.returncode == 0:
            return flags
    pytest.fail(
        "This Node.js has no built-in WebSocket (Node >= 20.10 with "
        "--experimental-websocket, or >= 22); the realtime suite needs one.",
        pytrace=False,
    )


def test_js_sdk_realtime_against_baas_serve(served, setup, control):
    run_node_suite(
        [SUITE],
        {
            "BAAS_URL": served.url,
            "BAAS_EMAIL": EMAIL,
            "BAAS_PASSWORD": PASSWORD,
            "BAAS_CONTROL_URL": control,
            **setup,
        },
        node_options=node_options(),
    )
    assert len(served.started) == 2, "the suite did not restart the server"
