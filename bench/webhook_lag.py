#!/usr/bin/env python3
"""Webhook delivery lag under W4 (issue 12's "Cost"), run by `WEBHOOK=1 bench/run`.

  webhook_lag.py receive --port P --out F   a receiver: records when each delivery
                                            arrives; on SIGTERM it waits until deliveries
                                            stop (15 s quiet, 600 s at most), then writes F
  webhook_lag.py subscribe --base URL --target URL
                                            as the bench superuser, subscribe a webhook
                                            to posts.create (API.md "Webhooks")

Lag = arrival time - the record's `created` (set when its create request ran; one clock).
Only the standard library: it runs in the harness's environment.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import threading
import time
import urllib.request
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

QUIET, LONGEST = 15.0, 600.0


def receive(port: int, out: str) -> None:
    arrivals: list[tuple[float, str]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            now = time.time()
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(204)
            self.end_headers()
            try:
                created = json.loads(body)["data"]["record"]["created"]
            except (ValueError, KeyError, TypeError):
                return
            with lock:
                arrivals.append((now, created))

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop.wait()
    asked = time.time()
    while time.time() - asked < LONGEST:
        with lock:
            last = arrivals[-1][0] if arrivals else asked
        if time.time() - max(last, asked) > QUIET:
            break
        time.sleep(0.5)
    server.shutdown()
    with lock:
        lags = sorted(
            (at - datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp())
            * 1000
            for at, created in arrivals
        )
    result = {"deliveries": len(lags)}
    if lags:
        result.update(
            lag_ms_p50=round(statistics.median(lags), 1),
            lag_ms_p99=round(lags[min(len(lags) - 1, int(len(lags) * 0.99))], 1),
            lag_ms_max=round(lags[-1], 1),
            drain_s=round(arrivals[-1][0] - asked, 1),
        )
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result))


def _call(method: str, url: str, body=None, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def subscribe(base: str, target: str) -> None:
    login = _call(
        "POST",
        f"{base}/api/v1/auth/login",
        {
            "email": os.environ.get("BAAS_ADMIN_EMAIL", "admin@example.com"),
            "password": os.environ.get("BAAS_ADMIN_PASS", "AdminPass123!"),
        },
    )
    token = login["meta"]["access_token"]
    hook = _call(
        "POST",
        f"{base}/api/v1/webhooks",
        {"url": target, "events": ["posts.create"], "active": True},
        token,
    )
    print(f"webhook {hook['id']} -> {target}")


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("receive")
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--out", required=True)
    s = sub.add_parser("subscribe")
    s.add_argument("--base", required=True)
    s.add_argument("--target", required=True)
    args = parser.parse_args()
    if args.command == "receive":
        receive(args.port, args.out)
    else:
        subscribe(args.base, args.target)


if __name__ == "__main__":
    main()
