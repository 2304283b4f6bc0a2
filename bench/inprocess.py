"""In-process cost of W1-W4 through the WSGI application, without HTTP or wrk.

Run with the virtualenv of the tree to measure (`.venv/bin/python bench/inprocess.py`);
it makes a throwaway data directory (SQLite), 300 posts, then prints the median time per
request over five rounds, and the number of Python function calls per request (cProfile):
a count that, unlike times on a shared VM, repeats exactly, so two trees compare exactly.
"""

from __future__ import annotations

import cProfile
import io
import itertools
import json
import os
import pstats
import statistics
import sys
import tempfile
import time

os.environ["BAAS_DATA_DIR"] = tempfile.mkdtemp(prefix="inprocess-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baas.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from apps.accounts.models import User  # noqa: E402
from baas.wsgi import application  # noqa: E402

EMAIL, PASSWORD = "bench@example.com", "a long bench password 1"
FILTER = "status%20%3D%20%27open%27%20%26%26%20priority%20%3E%3D%204"


def call(method: str, path: str, query: str = "", body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else b""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(data),
        "wsgi.errors": sys.stderr,
    }
    if body is not None:
        environ["CONTENT_TYPE"] = "application/json"
        environ["CONTENT_LENGTH"] = str(len(data))
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"] = status
        return lambda chunk: None

    content = b"".join(application(environ, start_response))
    return answer["status"], content


def setup() -> tuple[dict, list[str]]:
    call_command("migrate", interactive=False, verbosity=0)
    User.objects.create_superuser(email=EMAIL, password=PASSWORD)
    _, content = call(
        "POST", "/api/v1/auth/login", body={"email": EMAIL, "password": PASSWORD}
    )
    auth = {"Authorization": "Bearer " + json.loads(content)["meta"]["access_token"]}
    fields = [
        {"name": "title", "type": "text"},
        {"name": "body", "type": "text"},
        {"name": "status", "type": "select", "options": {"values": ["open", "closed"]}},
        {"name": "priority", "type": "number"},
    ]
    rules = {"list": "", "view": "", "create": "", "update": None, "delete": None}
    status, content = call(
        "POST",
        "/api/v1/collections",
        body={"name": "posts", "fields": fields, "rules": rules},
        headers=auth,
    )
    assert status.startswith("201"), content
    ids = []
    for i in range(300):
        post = {"title": f"t{i}", "body": "x" * 500, "status": "open"}
        post["priority"] = i % 5 + 1
        _, content = call(
            "POST", "/api/v1/collections/posts/records", body=post, headers=auth
        )
        ids.append(json.loads(content)["id"])
    return auth, ids


def main() -> None:
    auth, ids = setup()
    next_id = itertools.cycle(ids).__next__
    records = "/api/v1/collections/posts/records"
    new_post = {"title": "n", "body": "y" * 500, "status": "open", "priority": 3}
    workloads = {
        "W1 list": lambda: call("GET", records, "limit=50&sort=-created"),
        "W2 get": lambda: call("GET", f"{records}/{next_id()}"),
        "W3 filter": lambda: call(
            "GET", records, f"limit=50&sort=-created&filter={FILTER}"
        ),
        "W4 create": lambda: call("POST", records, body=new_post, headers=auth),
    }
    for label, request in workloads.items():
        for _ in range(100):
            request()
        rounds = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(200):
                request()
            rounds.append((time.perf_counter() - started) / 200 * 1000)
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(100):
            request()
        profile.disable()
        calls = pstats.Stats(profile).total_calls / 100
        print(
            f"{label}: {statistics.median(rounds):.3f} ms median "
            f"({', '.join(f'{r:.3f}' for r in rounds)}), {calls:.0f} Python calls"
        )


if __name__ == "__main__":
    main()
