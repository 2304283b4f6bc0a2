"""The security table: actor x action x rule kind -> status, and what must not appear.

Every cell runs one request against freshly reset data: a record owned by alice (the
"owner" actor) holding marked values, and one owned by bob (the "other" actor). A cell
states the expected status and which marked values must (`+`) or must not (`-`) be in
the response body:

- `T` alice's record (its id and its title),
- `S` its `secret` field (a hidden field under the `field-hidden` rule kind),
- `E` alice's email, reachable only by expanding `owner` into `users` (whose view rule
  lets a user see only themself),
- `D` the id of a record of alice's deleted just before the request (delta sync
  tombstones),
- `B` bob's record (its id and title): under owner rules, lists show each user their
  own records only.

Refused requests (4xx) answer in the error envelope, show none of the marked values and
change nothing in the database; allowed writes make exactly their change.

Keys: `key` holds the scope the action needs (`records:read` for reads,
`records:write` for writes), `key_noscope` holds only the other records scope.

The schema, users, tokens and keys are built once for the module (a cell costs one
request, not a collection's DDL and three logins); the module cleans up after itself
like `transactional_db` does (dynamic tables dropped, database flushed).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import orjson
import pytest
from rest_framework.test import APIClient

from tests.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    USER_PASSWORD,
    client_with,
    login,
    shared_world,
)

ACTORS = ("anonymous", "owner", "other", "superuser", "key", "key_noscope")
WRITES = frozenset({"create", "update", "update_hidden", "delete", "batch"})
LISTS = frozenset(
    {"list", "expand", "filter_hidden", "filter_miss", "sort_hidden", "fields_hidden"}
)

# Rows: actions; columns: ACTORS. `200+T-S`: status 200, T present, S absent.
TABLES = {
    "null": """
        action         anonymous  owner     other     superuser  key        key_noscope
        list           401        403       403       200+T+S    200+T+S    403
        view           401        403       403       200+T+S    200+T+S    403
        create         401        403       403       201        201        403
        update         401        403       403       200+S      200+S      403
        update_hidden  401        403       403       200        200        403
        delete         401        403       403       204        204        403
        changes        401        403       403       200+T+S+D  200+T+S+D  403
        batch          401        403       403       200+S      200+S      403
        batch_view     401        403       403       200+T+S    200+T+S    403
        expand         401        403       403       200+T+E    200+T+E    403
        filter_hidden  401        403       403       200+T+S    200+T+S    403
        filter_miss    401        403       403       200-T      200-T      403
        sort_hidden    401        403       403       200+T      200+T      403
        fields_hidden  401        403       403       200+T+S    200+T+S    403
    """,
    "": """
        action         anonymous  owner      other      superuser  key        key_noscope
        list           200+T+S    200+T+S    200+T+S    200+T+S    200+T+S    403
        view           200+T+S    200+T+S    200+T+S    200+T+S    200+T+S    403
        create         201        201        201        201        201        403
        update         200+S      200+S      200+S      200+S      200+S      403
        update_hidden  200        200        200        200        200        403
        delete         204        204        204        204        204        403
        changes        200+T+S+D  200+T+S+D  200+T+S+D  200+T+S+D  200+T+S+D  403
        batch          200+S      200+S      200+S      200+S      200+S      403
        batch_view     200+T+S    200+T+S    200+T+S    200+T+S    200+T+S    403
        expand         200+T-E    200+T+E    200+T-E    200+T+E    200+T+E    403
        filter_hidden  200+T+S    200+T+S    200+T+S    200+T+S    200+T+S    403
        filter_miss    200-T      200-T      200-T      200-T      200-T      403
        sort_hidden    200+T      200+T      200+T      200+T      200+T      403
        fields_hidden  200+T+S    200+T+S    200+T+S    200+T+S    200+T+S    403
    """,
    "owner": """
        action         anonymous    owner        other        superuser    key          key_noscope
        list           200-T-S-B    200+T+S-B    200-T-S+B    200+T+S+B    200+T+S+B    403
        view           404          200+T+S      404          200+T+S      200+T+S      403
        create         403          201          403          201          201          403
        update         404          200+S        404          200+S        200+S        403
        update_hidden  404          200          404          200          200          403
        delete         404          204          404          204          204          403
        changes        200-T-S-D-B  200+T+S+D-B  200-T-S-D+B  200+T+S+D+B  200+T+S+D+B  403
        batch          404          200+S        404          200+S        200+S        403
        batch_view     404          200+T+S      404          200+T+S      200+T+S      403
        expand         200-T-E-B    200+T+E-B    200-T-E+B    200+T+E+B    200+T+E+B    403
        filter_hidden  200-T-S      200+T+S      200-T-S      200+T+S      200+T+S      403
        filter_miss    200-T        200-T        200-T        200-T        200-T        403
        sort_hidden    200-T-B      200+T-B      200-T+B      200+T+B      200+T+B      403
        fields_hidden  200-T-S-B    200+T+S-B    200-T-S+B    200+T+S+B    200+T+S+B    403
    """,
    "field-hidden": """
        action         anonymous  owner      other      superuser  key        key_noscope
        list           200+T-S    200+T-S    200+T-S    200+T+S    200+T+S    403
        view           200+T-S    200+T-S    200+T-S    200+T+S    200+T+S    403
        create         201        201        201        201        201        403
        update         200-S      200-S      200-S      200+S      200+S      403
        update_hidden  403        403        403        200        200        403
        delete         204        204        204        204        204        403
        changes        200+T-S+D  200+T-S+D  200+T-S+D  200+T+S+D  200+T+S+D  403
        batch          200-S      200-S      200-S      200+S      200+S      403
        batch_view     200+T-S    200+T-S    200+T-S    200+T+S    200+T+S    403
        expand         200+T-E-S  200+T+E-S  200+T-E-S  200+T+E+S  200+T+E+S  403
        filter_hidden  400-T-S    400-T-S    400-T-S    200+T+S    200+T+S    403
        filter_miss    400        400        400        200-T      200-T      403
        sort_hidden    400        400        400        200+T      200+T      403
        fields_hidden  400-T-S    400-T-S    400-T-S    200+T+S    200+T+S    403
    """,
}

RULES = {
    "null": dict.fromkeys(("list", "view", "create", "update", "delete")),
    "": dict.fromkeys(("list", "view", "create", "update", "delete"), ""),
    "owner": {
        "list": "owner = @request.auth.id",
        "view": "owner = @request.auth.id",
        "create": "@request.body.owner = @request.auth.id",
        "update": "owner = @request.auth.id",
        "delete": "owner = @request.auth.id",
    },
    "field-hidden": dict.fromkeys(("list", "view", "create", "update", "delete"), ""),
}
COLLECTION = {
    "null": "s_null",
    "": "s_open",
    "owner": "s_owner",
    "field-hidden": "s_hidden",
}


@dataclass(frozen=True)
class Cell:
    status: int
    tokens: dict[str, bool]  # marker -> must appear (True) / must not (False)

    @classmethod
    def parse(cls, text: str) -> Cell:
        match = re.fullmatch(r"(\d{3})((?:[+-][TSEDB])*)", text)
        assert match, f"bad cell {text!r}"
        tokens = {t[1]: t[0] == "+" for t in re.findall(r"[+-][TSEDB]", match[2])}
        return cls(int(match[1]), tokens)


def _cases():
    cases, actions = [], None
    for kind, table in TABLES.items():
        lines = [line.split() for line in table.strip().splitlines()]
        assert tuple(lines[0][1:]) == ACTORS
        assert actions in (None, [line[0] for line in lines[1:]]), kind
        actions = [line[0] for line in lines[1:]]
        for action, *cells in lines[1:]:
            assert len(cells) == len(ACTORS), (kind, action)
            for actor, cell in zip(ACTORS, cells, strict=True):
                cases.append(
                    pytest.param(
                        kind,
                        action,
                        actor,
                        Cell.parse(cell),
                        id=f"{kind or 'empty'}-{action}-{actor}",
                    )
                )
    return cases


CASES = _cases()


class World:
    """Users, tokens, keys and one collection per rule kind, shared by the module."""

    def __init__(self) -> None:
        from apps.accounts.apikeys import apikey_create
        from apps.accounts.models import User

        tag = uuid.uuid4().hex[:8]
        self.superuser = User.objects.create_superuser(
            email=ADMIN_EMAIL, password=ADMIN_PASSWORD
        )
        self.alice = User.objects.create_user(
            email=f"alice-{tag}@example.com", password=USER_PASSWORD
        )
        self.bob = User.objects.create_user(
            email=f"bob-{tag}@example.com", password=USER_PASSWORD
        )
        self.tokens = {
            "superuser": login(ADMIN_EMAIL, ADMIN_PASSWORD),
            "owner": login(self.alice.email, USER_PASSWORD),
            "other": login(self.bob.email, USER_PASSWORD),
        }
        self.keys = {
            scope: apikey_create(name=f"scenario {scope}", scopes=[scope])[1]
            for scope in ("records:read", "records:write")
        }
        admin = client_with(self.tokens["superuser"])
        for kind, name in COLLECTION.items():
            response = admin.post(
                "/api/v1/collections",
                {
                    "name": name,
                    "fields": [
                        {"name": "title", "type": "text"},
                        {
                            "name": "owner",
                            "type": "relation",
                            "options": {"collection": "users"},
                        },
                        {
                            "name": "secret",
                            "type": "text",
                            "hidden": kind == "field-hidden",
                        },
                    ],
                    "rules": RULES[kind],
                },
                format="json",
            )
            assert response.status_code == 201, response.content

    def client(self, actor: str, action: str) -> APIClient:
        if actor == "anonymous":
            return APIClient()
        if actor in self.tokens:
            return client_with(self.tokens[actor])
        needed = "records:write" if action in WRITES else "records:read"
        other = "records:read" if needed == "records:write" else "records:write"
        return client_with(self.keys[needed if actor == "key" else other])

    def model(self, kind: str):
        from apps.collections.dynamic import cache
        from apps.collections.services import get_spec

        spec = get_spec(COLLECTION[kind])
        return spec, cache.model_for(spec)

    def snapshot(self, kind: str) -> list[dict]:
        from apps.records.records_io import row_attnames

        spec, model = self.model(kind)
        return list(model.objects.order_by("id").values(*row_attnames(spec)))

    def stored(self, kind: str, record_id: str) -> dict | None:
        """Alice's record as stored, by field name."""
        spec, model = self.model(kind)
        row = model.objects.filter(pk=record_id).values().first()
        if row is None:
            return None
        return {
            f.name: row.get(f.attname, row.get(f"{f.attname}_id")) for f in spec.fields
        }

    def _create(self, kind: str, **data) -> dict:
        from apps.records.records import record_create

        return record_create(
            actor=self.superuser, collection=COLLECTION[kind], data=data
        )

    def reset(self, kind: str, *, with_deleted: bool) -> Scene:
        """Fresh rows for one cell: alice's marked record and bob's record."""
        from apps.records.records import record_delete

        _, model = self.model(kind)
        model.objects.all().delete()
        since = self.changes_head(kind) if with_deleted else None
        tag = uuid.uuid4().hex[:10]
        mine = self._create(
            kind, title=f"TITLE-{tag}", secret=f"SECRET-{tag}", owner=self.alice.pk
        )
        bobs = self._create(kind, title="BOBS-POST", secret="bob's", owner=self.bob.pk)
        gone = None
        if with_deleted:
            gone = self._create(kind, title="gone", owner=self.alice.pk)["id"]
            record_delete(
                actor=self.superuser, collection=COLLECTION[kind], record_id=gone
            )
        markers = {
            "T": [mine["id"], mine["title"]],
            "S": [mine["secret"]],
            "E": [self.alice.email],
            "D": [gone] if gone else [],
            "B": [bobs["id"], bobs["title"]],
        }
        return Scene(kind, COLLECTION[kind], mine, markers, since)

    def changes_head(self, kind: str) -> str | None:
        """The current end of the collection's change stream (read as superuser)."""
        admin = client_with(self.tokens["superuser"])
        url = f"/api/v1/collections/{COLLECTION[kind]}/changes"
        params: dict = {"limit": 500}
        while True:
            response = admin.get(url, params)
            assert response.status_code == 200, response.content
            body = response.json()
            params["since"] = body["next"]
            if not body["has_more"]:
                return body["next"]


@dataclass
class Scene:
    kind: str
    name: str
    record: dict  # alice's record, as the superuser created it
    markers: dict[str, list[str]]
    since: str | None


world, transactional_db = shared_world(World)
pytestmark = pytest.mark.usefixtures("transactional_db")


def perform(world: World, scene: Scene, actor: str, action: str):
    client = world.client(actor, action)
    records = f"/api/v1/collections/{scene.name}/records"
    one = f"{records}/{scene.record['id']}"
    secret = scene.record["secret"]
    if action == "list":
        return client.get(records)
    if action == "view":
        return client.get(one)
    if action == "create":
        data = {"title": "created by actor", "owner": world.alice.pk}
        return client.post(records, data, format="json")
    if action == "update":
        return client.patch(one, {"title": "changed by actor"}, format="json")
    if action == "update_hidden":
        return client.patch(one, {"secret": "changed by actor"}, format="json")
    if action == "delete":
        return client.delete(one)
    if action == "changes":
        url = f"/api/v1/collections/{scene.name}/changes"
        return client.get(url, {"since": scene.since} if scene.since else {})
    if action == "batch":
        operation = {
            "method": "PATCH",
            "url": f"/api/v1/collections/{scene.name}/records/{scene.record['id']}",
            "body": {"title": "changed by actor"},
        }
        return client.post("/api/v1/batch", {"requests": [operation]}, format="json")
    if action == "batch_view":
        operation = {"method": "GET", "url": one}
        return client.post("/api/v1/batch", {"requests": [operation]}, format="json")
    if action == "expand":
        return client.get(records, {"expand": "owner"})
    if action == "filter_hidden":
        return client.get(records, {"filter": f"secret = '{secret}'", "count": "true"})
    if action == "filter_miss":
        return client.get(records, {"filter": "secret = 'no such'", "count": "true"})
    if action == "sort_hidden":
        return client.get(records, {"sort": "secret"})
    if action == "fields_hidden":
        return client.get(records, {"fields": "title,secret"})
    raise AssertionError(action)


def assert_effect(world: World, scene: Scene, action: str, before, after) -> None:
    """An allowed request made exactly its change; reads change nothing."""
    stored = world.stored(scene.kind, scene.record["id"])
    if action == "create":
        created = [r["id"] for r in after if r not in before]
        assert len(after) == len(before) + 1 and len(created) == 1
        row = world.stored(scene.kind, created[0])
        assert row["title"] == "created by actor" and row["owner"] == world.alice.pk
    elif action in ("update", "batch"):
        assert stored is not None and stored["title"] == "changed by actor"
        assert [r["id"] for r in after] == [r["id"] for r in before]
    elif action == "update_hidden":
        assert stored is not None and stored["secret"] == "changed by actor"
    elif action == "delete":
        assert stored is None
        assert len(after) == len(before) - 1
    else:
        assert after == before, "a read changed data"


def listed_ids(action: str, body: dict) -> list[str]:
    if action == "changes":
        return [
            c["record"]["id"] if c.get("op") == "upsert" else c["id"]
            for c in body["changes"]
        ]
    if action in LISTS:
        return [item["id"] for item in body["items"]]
    return []


@pytest.mark.parametrize("kind, action, actor, cell", CASES)
def test_access_scenario(world, kind, action, actor, cell):
    scene = world.reset(kind, with_deleted=action == "changes")
    before = world.snapshot(kind)

    response = perform(world, scene, actor, action)

    text = response.content.decode()
    after = world.snapshot(kind)
    assert response.status_code == cell.status, text[:500]
    if cell.status >= 400:
        body = orjson.loads(response.content)
        assert body["status"] == cell.status
        assert body["errors"] and all(e["code"] for e in body["errors"])
        if cell.status == 400:
            param = {"sort_hidden": "sort", "fields_hidden": "fields"}.get(
                action, "filter"
            )
            assert param in [e.get("param") for e in body["errors"]], body
        if cell.status == 401:
            assert response["WWW-Authenticate"].startswith("Bearer")
        for name, values in scene.markers.items():
            if name == "S" and action == "filter_hidden":
                continue  # the caller's own filter quotes it: an echo is no leak
            for value in values:
                assert value not in text, f"{name} leaked in a refusal"
        assert after == before, "a refused request changed data"
        return
    for name, present in cell.tokens.items():
        for value in scene.markers[name]:
            assert (value in text) == present, (name, value, present, text[:800])
    assert_effect(world, scene, action, before, after)
    if cell.status == 204:
        return
    body = orjson.loads(response.content)
    if action in ("batch", "batch_view"):
        assert [r["status"] for r in body["responses"]] == [200]
    if action in LISTS or action == "changes":
        ids = listed_ids(action, body)
        assert len(ids) == len(set(ids))
        if "total" in body:  # a count must not reveal rows the items do not show
            assert body["total"] == len(body["items"])
