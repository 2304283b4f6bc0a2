"""A worker killed with SIGKILL in the middle of a push fan-out: after a restart every
device got the message exactly once (none twice, none missed), and the results say so.

Real processes from the runtime-only environment (`baas migrate`, `baas shell`, `baas
worker`) and the fake FCM server (tests/push/fakes/fcm.py), which holds its answers while
told to: the worker is killed while the provider has a window of sends in flight (the
fake has them, the worker has not heard back). Those rows were taken before they were
sent, so the task, given back by the broker, does not send them again (they are `failed`,
"unconfirmed"); every row not taken yet is sent by the second worker.
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
import time

import pytest

from tests.e2e import servers
from tests.e2e.test_worker_kill_e2e import shell, wait_for
from tests.push.fakes import fcm as fake_fcm

pytestmark = pytest.mark.slow

DEVICES = 1200
VISIBILITY = 5  # BAAS_BROKER_VISIBILITY_TIMEOUT for these processes

SEED = textwrap.dedent(
    f"""
    import hashlib
    from apps.accounts.models import User
    from apps.push.models import Device, DeviceTopic
    from baas import push

    users = User.objects.bulk_create(
        [User(email=f"u{{n}}@example.com", password="!") for n in range({DEVICES})]
    )
    devices = Device.objects.bulk_create(
        [
            Device(
                user=user,
                platform="fcm",
                token=f"token-{{n:05d}}-" + "x" * 100,
                token_hash=hashlib.sha256(str(n).encode()).hexdigest(),
            )
            for n, user in enumerate(users)
        ]
    )
    DeviceTopic.objects.bulk_create(
        [DeviceTopic(device=device, topic="all") for device in devices]
    )
    message = push.send(to={{"topic": "all"}}, notification={{"title": "hello"}})
    print(message["id"])
    """
)

STATUS = textwrap.dedent(
    """
    import json
    from baas import push

    status = push.status({message_id!r})
    print(json.dumps({{"state": status["state"], "counts": status["counts"]}}))
    """
)


def test_a_worker_killed_mid_fan_out_sends_each_device_exactly_once(tmp_path):
    embedded = not servers.postgres_profile()
    pool = ["--pool", "threads", "--concurrency", "1"] if embedded else []
    data_dir = tmp_path / "data"
    with fake_fcm.running() as fcm, servers.backing_services() as services:
        env = servers.server_env(
            data_dir,
            BAAS_BROKER_VISIBILITY_TIMEOUT=str(VISIBILITY),
            BAAS_FCM_CREDENTIALS=fcm.credentials(),
            BAAS_FCM_ENDPOINT=fcm.url,
            **services,
        )
        migrated = servers.run_baas("migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        fcm.hold(True)
        message_id = shell(SEED, env).strip().splitlines()[-1]
        workers: list[servers.Server] = []

        def start_worker() -> servers.Server:
            worker = servers.Server(
                ["worker", *pool],
                env=env,
                log_dir=tmp_path,
                name=f"worker-{len(workers) + 1}",
                port=0,
            )
            workers.append(worker)
            return worker

        def status() -> dict:
            out = shell(STATUS.format(message_id=message_id), env)
            return json.loads(out.strip().splitlines()[-1])

        try:
            worker = start_worker()
            # A window of sends reaches the fake, which holds the answers.
            seen = [-1]

            def settled() -> bool:
                now = fcm.stats()["received"]
                steady, seen[0] = now == seen[0] and now > 0, now
                time.sleep(0.5)
                return steady

            wait_for(settled, "sends in flight", worker)
            in_flight = fcm.stats()["received"]
            assert 0 < in_flight < DEVICES
            worker.children()
            os.killpg(worker.pid, signal.SIGKILL)
            worker.proc.wait(timeout=10)
            deadline = time.monotonic() + 10  # the kernel may still be reaping them
            while worker.leftovers() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert worker.leftovers() == [], worker.leftovers()
            fcm.hold(False)
            if not embedded:
                time.sleep(VISIBILITY + 1)  # kombu gives it back once it is this old
            second = start_worker()
            wait_for(lambda: status()["state"] == "done", "the message done", second)
        finally:
            for worker in workers:
                worker.stop()

        stats = fcm.stats()
        counts = status()["counts"]
        assert stats["by_token_max"] == 1, stats  # nobody twice
        received = {r["token"] for r in fcm.received()}
        assert len(received) == DEVICES, (stats, counts, in_flight)  # nobody missed
        # The window the provider had when the worker died is "unconfirmed" (failed):
        # the fake got it, the server could not know.
        assert counts["sent"] + counts["failed"] == DEVICES
        assert counts["failed"] <= in_flight and counts["queued"] == 0, counts
