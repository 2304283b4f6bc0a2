#!/usr/bin/env python3
"""Push fan-out at scale (issue 13's "Scale"): one message to N registered FCM devices
through `baas serve` (the embedded profile: SQLite, its one worker thread) and the fake
FCM server of the tests (tests/push/fakes/fcm.py: OAuth token flow, HTTP/2, FCM's checks).

Reports: time from the POST until every device is `sent`, sends per second, the worker's
peak resident memory (VmHWM), and W2 (GET one record, wrk, 16 connections) p50/p99
before and during the fan-out.

  .venv/bin/python bench/push_fanout.py [--devices 100000] [--out bench/results/push-<stamp>.json]

Run from the repository root after `scripts/test` installed .venv and .venv-runtime.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BAAS_RUNTIME_BIN", str(ROOT / ".venv-runtime" / "bin"))

from tests.e2e import servers  # noqa: E402
from tests.push.fakes import fcm as fake_fcm  # noqa: E402

SEED = """
import hashlib
from apps.accounts.models import User
from apps.push.models import Device, DeviceTopic

N, CHUNK = {devices}, 5000
for start in range(0, N, CHUNK):
    users = User.objects.bulk_create(
        [User(email=f"u{{n}}@bench.example", password="!") for n in range(start, min(N, start + CHUNK))]
    )
    devices = Device.objects.bulk_create(
        [
            Device(user=u, platform="fcm", token=f"bench-token-{{u.email}}-" + "x" * 100,
                   token_hash=hashlib.sha256(u.email.encode()).hexdigest())
            for u in users
        ]
    )
    DeviceTopic.objects.bulk_create([DeviceTopic(device=d, topic="all") for d in devices])
print("seeded", N)
"""


def wrk(url: str, token: str, seconds: int) -> dict:
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            "-c16",
            f"-d{seconds}s",
            "--latency",
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def ms(label: str) -> float:
        match = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"p50_ms": ms("50%"), "p99_ms": ms("99%"), "req_per_s": rps}


def worker_peak(server) -> tuple[int, int]:
    """(pid, VmHWM in bytes) of the `baas serve` child that runs the worker."""
    best = (0, 0)
    for info in server.children():
        try:
            cmdline = (
                Path(f"/proc/{info.pid}/cmdline").read_bytes().replace(b"\0", b" ")
            )
            status = Path(f"/proc/{info.pid}/status").read_text()
        except OSError:
            continue
        if b"worker" not in cmdline:
            continue
        hwm = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024
        best = max(best, (info.pid, hwm), key=lambda x: x[1])
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H%M")
    out = Path(args.out or ROOT / "bench" / "results" / f"push-fanout-{stamp}.json")
    with (
        tempfile.TemporaryDirectory(prefix="push-bench-") as tmp,
        fake_fcm.running() as fcm,
    ):
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        extra = {
            "BAAS_FCM_CREDENTIALS": fcm.credentials(),
            "BAAS_FCM_ENDPOINT": fcm.url,
            "BAAS_RATE_LIMITS": "off",
        }
        os.environ.pop("BAAS_DATABASE_URL", None)  # the embedded profile
        with servers.serving(data_dir, **extra) as (server, env):
            t = time.monotonic()
            seeded = servers.run_baas(
                "shell", "-c", SEED.format(devices=args.devices), env=env, timeout=1800
            )
            assert seeded.returncode == 0, seeded.stderr
            seed_s = time.monotonic() - t
            api = servers.login(
                servers.url_in(server.stdout()), servers.EMAIL, servers.PASSWORD
            )
            made = api.post(
                "/api/v1/collections",
                {"name": "posts", "fields": [{"name": "title", "type": "text"}]},
            )
            assert made.status_code == 201, made.text
            record = api.post(
                "/api/v1/collections/posts/records", {"title": "hello"}
            ).json()
            w2_url = f"{api.base_url}/api/v1/collections/posts/records/{record['id']}"
            before = wrk(w2_url, api.token, 10)
            _, hwm_before = worker_peak(server)

            t0 = time.monotonic()
            sent = api.post(
                "/api/v1/push/messages",
                {
                    "to": {"topic": "all"},
                    "notification": {
                        "title": "Bench",
                        "body": "One message to everyone",
                    },
                    "data": {"kind": "bench"},
                },
            )
            assert sent.status_code == 202, sent.text
            message_id = sent.json()["id"]
            during: list[dict] = []
            done = threading.Event()

            def load() -> None:
                while not done.is_set():
                    during.append(wrk(w2_url, api.token, 10))

            loader = threading.Thread(target=load, daemon=True)
            loader.start()
            status: dict = {}
            while True:
                status = requests.get(
                    f"{api.base_url}/api/v1/push/messages/{message_id}",
                    headers={"Authorization": f"Bearer {api.token}"},
                    params={"limit": 1},
                    timeout=60,
                ).json()
                if status["state"] == "done":
                    break
                time.sleep(0.5)
            elapsed = time.monotonic() - t0
            done.set()
            loader.join()
            pid, hwm = worker_peak(server)
            stats = fcm.stats()
    result = {
        "when": stamp,
        "profile": "embedded (baas serve: SQLite, one worker thread)",
        "devices": args.devices,
        "seed_seconds": round(seed_s, 1),
        "time_to_all_sent_s": round(elapsed, 1),
        "sends_per_s": round(status["counts"]["sent"] / elapsed, 1),
        "counts": status["counts"],
        "fake_received": stats["received"],
        "fake_by_token_max": stats["by_token_max"],
        "worker_peak_rss_mb": round(hwm / 2**20, 1),
        "worker_peak_rss_before_mb": round(hwm_before / 2**20, 1),
        "w2_before": before,
        "w2_during": during,
        "w2_during_p99_ms_worst": max(d["p99_ms"] for d in during) if during else None,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
