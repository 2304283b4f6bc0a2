"""A copy of ../shared/peers/adapters/baas.py whose subscribers connect to a realtime
process straight (port 8100, started by bench/experiments/w5_floor.sh), not through the
proxy; writes still go through it. The original's docstring follows.

Adapter for this project's server, written against ../API.md (v1). Matches setup_baas.sh.

Paths and shapes come from the public contract; if the server differs from the contract,
the server is wrong (or the contract changes through an issue), not this file.
"""

import json
import os
import urllib.parse

from harness.adapter_base import PIDFILE_DIR, Adapter, Req, children_of, read_pidfile

Q = urllib.parse.quote
COL = "/api/v1/collections/posts/records"


class Baas(Adapter):
    name = "baas"
    default_base = f"http://127.0.0.1:{os.environ.get('BAAS_PORT', '8000')}"

    async def login(self, http):
        r = await self.send(
            http,
            Req(
                "POST",
                "/api/v1/auth/login",
                {"Content-Type": "application/json"},
                json.dumps({"email": self.user_email, "password": self.user_pass}),
            ),
        )
        self.token, self.user_id = (
            r["meta"]["access_token"],
            str(r["data"]["user"]["id"]),
        )

    def auth_headers(self):
        return {"Authorization": f"Bearer {self.token}"}

    def w1_list(self):
        return Req("GET", f"{COL}?limit=50&sort=-created")

    def w2_get(self):
        return Req("GET", COL + "/{id}")

    def w3_filter(self):
        flt = Q("status = 'open' && priority >= 4", safe="")
        return Req("GET", f"{COL}?limit=50&sort=-created&filter={flt}")

    def w4_create(self, post):
        body = dict(post, owner=self.user_id)
        return Req(
            "POST",
            COL,
            {**self.auth_headers(), "Content-Type": "application/json"},
            json.dumps(body),
        )

    def list_page(self, page, per_page):
        return Req("GET", f"{COL}?page={page}&limit={per_page}&sort=-created&fields=id")

    def parse_list_ids(self, payload):
        return [it["id"] for it in payload["items"]]

    async def _superuser(self, http):
        r = await self.send(
            http,
            Req(
                "POST",
                "/api/v1/auth/login",
                {"Content-Type": "application/json"},
                json.dumps(
                    {
                        "email": os.environ.get(
                            "BAAS_ADMIN_EMAIL", "admin@example.com"
                        ),
                        "password": os.environ.get("BAAS_ADMIN_PASS", "AdminPass123!"),
                    }
                ),
            ),
        )
        return {
            "Authorization": f"Bearer {r['meta']['access_token']}",
            "Content-Type": "application/json",
        }

    async def _set_rule(self, http, rule):
        h = await self._superuser(http)
        async with http.get(self.base + "/api/v1/collections/posts", headers=h) as r:
            rules = dict((await r.json()).get("rules") or {})
        rules.update({"list": rule, "view": rule})
        await self.send(
            http,
            Req("PATCH", "/api/v1/collections/posts", h, json.dumps({"rules": rules})),
        )

    async def prepare_w5r(self, http, n_users):
        # Needs sign-up without an emailed code (BAAS_EMAIL_VERIFICATION=none, as bench/run sets).
        await self._set_rule(http, "@request.auth.id != ''")
        tokens = []
        for i in range(n_users):
            body = json.dumps(
                {"email": f"w5r-{i}@example.com", "password": "W5rPass123!"}
            )
            h = {"Content-Type": "application/json"}
            async with http.post(
                self.base + "/api/v1/auth/signup", data=body, headers=h
            ) as r:
                signed = await r.json() if r.status == 200 else None
            if signed is None:
                signed = await self.send(
                    http, Req("POST", "/api/v1/auth/login", h, body)
                )
            tokens.append(signed["meta"]["access_token"])
        return tokens

    async def finish_w5r(self, http):
        await self._set_rule(http, "")

    async def subscribe(self, http, on_message, ready, token=None):
        # WebSocket per the contract: (auth frame) subscribe frame -> "subscribed" ack -> events.
        url = "ws://127.0.0.1:8100/api/v1/realtime"
        async with http.ws_connect(url, autoping=True) as ws:
            if token:
                await ws.send_str(json.dumps({"type": "auth", "token": token}))
            await ws.send_str(
                json.dumps({"type": "subscribe", "id": "s1", "topic": "posts"})
            )
            async for msg in ws:
                data = msg.data
                if not ready.is_set():
                    frame = json.loads(data)
                    if frame.get("type") == "subscribed":
                        ready.set()
                    elif frame.get("type") == "error":
                        raise RuntimeError(f"subscribe refused: {data[:300]}")
                    continue
                on_message(data)

    def server_pids(self):
        # The server is started by setup_baas.sh with setsid; count it and all its children
        # (web workers, realtime process, embedded worker), plus PostgreSQL/Redis when given.
        root = read_pidfile(os.path.join(PIDFILE_DIR, "baas", "baas.pid"))
        pids, frontier = list(root), list(root)
        while frontier:
            kids = children_of(frontier.pop())
            pids += kids
            frontier += kids
        groups = {"server": pids}
        extra = [
            int(p) for p in os.environ.get("BAAS_DB_PIDS", "").split() if p.isdigit()
        ]
        if extra:
            groups["db"] = extra
        return groups


ADAPTER = Baas
