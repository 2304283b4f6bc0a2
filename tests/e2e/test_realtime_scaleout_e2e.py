"""The production topology of docs/operations.md, run for real: PostgreSQL and Redis, a
`baas web` process that takes the writes, two `baas realtime` processes, and `baas front`
(haproxy) giving them one address. Every subscriber, on either realtime process, gets
every event exactly once and in order; channel messages and presence span both
processes; when one realtime process dies, its users leave."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import requests
import websockets

from tests.e2e import servers
from tests.e2e.servers import EMAIL, PASSWORD

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not servers.postgres_profile(),
        reason="scale-out needs Redis (PostgreSQL profile)",
    ),
]

WRITES = 60
SUBSCRIBERS_PER_PROCESS = 10


@pytest.fixture(scope="module")
def topology(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("scaleout-data")
    with servers.backing_services() as services:
        env = servers.server_env(
            data_dir,
            BAAS_REALTIME_HEARTBEAT="2",
            BAAS_EMAIL_VERIFICATION="none",
            **services,
        )
        for command in (
            ("migrate",),
            ("createsuperuser", "--email", EMAIL, "--password", PASSWORD),
        ):
            done = servers.run_baas(*command, env=env)
            assert done.returncode == 0, done.stderr
        started = []
        try:
            web = servers.start_server(["web"], env=env, log_dir=data_dir, name="web")
            started.append(web)
            realtime = [
                servers.start_server(
                    ["realtime"], env=env, log_dir=data_dir, name=f"realtime{i}"
                )
                for i in (1, 2)
            ]
            started += realtime
            front = servers.start_server(
                [
                    "front",
                    "--host",
                    "127.0.0.1",
                    "--web",
                    f"127.0.0.1:{web.port}",
                    *(f"--realtime=127.0.0.1:{r.port}" for r in realtime),
                ],
                env=env,
                log_dir=data_dir,
                name="front",
            )
            started.append(front)
            for server in started:
                server.wait_healthy()
            yield {"web": web, "realtime": realtime, "front": front}
        finally:
            for server in started:
                server.kill()


@pytest.fixture(scope="module")
def api(topology):
    api = servers.login(topology["front"].url, EMAIL, PASSWORD)
    response = api.post(
        "/api/v1/collections",
        {
            "name": "posts",
            "fields": [{"name": "title", "type": "text"}],
            "rules": {"list": "", "view": "", "create": ""},
        },
    )
    assert response.status_code == 201, response.text
    response = api.post(
        "/api/v1/channels",
        {"name": "lobby", "rules": {"subscribe": "", "publish": ""}, "presence": True},
    )
    assert response.status_code == 201, response.text
    return api


def _ws(server) -> str:
    return server.url.replace("http://", "ws://") + "/api/v1/realtime"


def _connect(server):
    # An unbounded queue: events pile up while the test writes, and a client that
    # stops reading stops answering the server's pings (and is dropped, rightly).
    return websockets.connect(_ws(server), max_queue=None)


async def _next(ws, kind: str, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        frame = json.loads(await asyncio.wait_for(ws.recv(), max(remaining, 0.01)))
        if frame["type"] == kind:
            return frame


def test_every_subscriber_on_either_process_gets_every_event_once(topology, api):
    async def scenario():
        sockets = []
        for server in topology["realtime"]:
            for _ in range(SUBSCRIBERS_PER_PROCESS):
                ws = await _connect(server)
                await ws.send(
                    json.dumps({"type": "subscribe", "id": "s", "topic": "posts"})
                )
                assert (await _next(ws, "subscribed"))["id"] == "s"
                sockets.append(ws)
        through_front = await _connect(topology["front"])
        await through_front.send(
            json.dumps({"type": "subscribe", "id": "s", "topic": "posts"})
        )
        await _next(through_front, "subscribed")
        sockets.append(through_front)
        loop = asyncio.get_running_loop()
        titles = [f"post {i}" for i in range(WRITES)]
        for title in titles:  # the writer: `baas web`, a third process
            response = await loop.run_in_executor(
                None, api.post, "/api/v1/collections/posts/records", {"title": title}
            )
            assert response.status_code == 201, response.text
        for ws in sockets:
            got = [(await _next(ws, "event"))["record"]["title"] for _ in titles]
            assert got == titles
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.3)  # nothing twice
            await ws.close()

    asyncio.run(scenario())


def test_channels_and_presence_span_processes_and_survive_a_dead_one(topology, api):
    def user_token(email: str) -> tuple[str, str]:
        signed = requests.post(  # not as the superuser: a signed-in caller gets 409
            api.base_url + "/api/v1/auth/signup",
            json={"email": email, "password": "Sc4le-out-pass!"},
            timeout=30,
        )
        assert signed.status_code == 200, signed.text
        body = signed.json()
        return body["meta"]["access_token"], str(body["data"]["user"]["id"])

    alice_token, alice_id = user_token("alice.scale@example.com")
    bob_token, bob_id = user_token("bob.scale@example.com")
    first, second = topology["realtime"]

    async def join(server, token):
        ws = await _connect(server)
        await ws.send(json.dumps({"type": "auth", "token": token}))
        await _next(ws, "authenticated")
        await ws.send(
            json.dumps({"type": "subscribe", "id": "c", "topic": "channel:lobby"})
        )
        return ws, await _next(ws, "subscribed")

    async def scenario():
        alice, ack = await join(first, alice_token)
        assert ack["members"] == [alice_id]
        bob, ack = await join(second, bob_token)
        assert sorted(ack["members"]) == sorted([alice_id, bob_id])
        joined = await _next(alice, "presence")
        assert (joined["action"], joined["user"]) == ("join", bob_id)
        await alice.send(
            json.dumps({"type": "publish", "topic": "channel:lobby", "data": {"hi": 1}})
        )
        message = await _next(bob, "message")
        assert message["data"] == {"hi": 1} and message["from"] == alice_id
        second.kill()  # SIGKILL: no goodbye from bob's process
        left = await _next(alice, "presence", timeout=20)
        assert (left["action"], left["user"]) == ("leave", bob_id)
        await alice.close()

    asyncio.run(scenario())
