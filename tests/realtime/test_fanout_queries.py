"""Fan-out cost (DESIGN.md decision 7): the queries of one batch do not grow with the
number of subscribers when rules need no query; rules that reach into other collections
cost one query per identity and batch, never per subscriber and event."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.collections.services import get_spec
from apps.realtime.events import Group, Subscription, plan
from apps.records import changelog
from tests.realtime.test_realtime_ws import create, make_posts

pytestmark = pytest.mark.usefixtures("schema_db")


class _Conn:
    def __init__(self, user) -> None:
        self.user = user


def _batch():
    rows, _ = changelog.read_all(changelog.START, 500)
    return rows


def _groups(spec, users, per_user: int) -> dict:
    groups = []
    for user in users:
        subs = [
            Subscription(conn=_Conn(user), id=f"s{i}", collection_id=spec.id)
            for i in range(per_user)
        ]
        groups.append(Group(user, subs))
    return {spec.id: groups}


def _queries(rows, groups) -> tuple[int, int]:
    plan(rows, groups)  # first use: caches of this process (rule analysis, specs)
    with CaptureQueriesContext(connection) as captured:
        frames = plan(rows, groups)
    return len(captured), len(frames)


def test_in_memory_rules_cost_the_same_queries_for_1_or_200_subscribers(
    admin, anon, make_user
):
    make_posts(
        admin,
        {
            "list": "owner = @request.auth.id || status = 'public'",
            "view": "owner = @request.auth.id || status = 'public'",
            "create": "",
        },
    )
    users = [make_user(f"u{i}@example.com") for i in range(20)]
    for i in range(5):
        create(anon, title=f"p{i}", status="public")
    spec = get_spec("posts")
    rows = _batch()
    one, one_frames = _queries(rows, _groups(spec, users[:1], 1))
    many, many_frames = _queries(rows, _groups(spec, users, 10))
    assert many_frames == 200 * 5 and one_frames == 5
    assert many == one


def test_rules_through_relations_cost_one_query_per_identity_and_batch(
    admin, anon, make_user
):
    make_posts(
        admin,
        {"list": "owner.email != ''", "view": "owner.email != ''", "create": ""},
    )
    users = [make_user(f"u{i}@example.com") for i in range(4)]
    for i in range(6):
        create(anon, title=f"p{i}", owner=users[0].pk)
    spec = get_spec("posts")
    rows = _batch()
    one_each, _ = _queries(rows, _groups(spec, users, 1))
    many_each, frames = _queries(rows, _groups(spec, users, 25))
    assert frames == 25 * 6  # the owner's subscriptions: others may not view users[0]
    assert many_each == one_each  # not per subscription, not per record
    two, _ = _queries(rows, _groups(spec, users[:2], 1))
    # Per identity and batch: the view rule as one query, and the related collection's
    # schema version.
    assert one_each - two <= 2 * 2
