"""`@now` against stored timestamps: every comparison, in client filters and in rules, on
`created`, `updated` and a `date` field, for records written moments before the request
(in the same second, often the same millisecond) and records in the past and future."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.collections.dynamic import cache
from apps.collections.services import get_spec
from tests.collections.schema_helpers import add_record, create_collection

RECORDS = "/api/v1/collections/events/records"
FIELDS = ["created", "updated", "day"]
OPS = ["<=", "=", "!=", ">", ">=", "<"]  # `<=` first: right after a write
RECENT, PAST, FUTURE = 40, 3, 3


def _move(pks: list[str], when: dt.datetime) -> None:
    model = cache.model_for(get_spec("events"))
    field = get_spec("events").field_by_name("day")
    model.objects.filter(pk__in=pks).update(
        created=when, updated=when, **{field.attname: when}
    )


def write_recent(admin, events: dict) -> None:
    """A record written now, its `day` set to its own `created`."""
    record = add_record(admin, "events", {})
    response = admin.patch(
        f"{RECORDS}/{record['id']}", {"day": record["created"]}, format="json"
    )
    assert response.status_code == 200, response.content
    events["recent"].add(record["id"])


@pytest.fixture
def events(schema_db, admin):
    """A few records moved into the past, a few into the future, then records just
    written: {"recent": ids, "past": ids, "future": ids}."""
    create_collection(
        admin,
        "events",
        fields=[{"name": "day", "type": "date"}],
        rules={"list": "", "view": ""},
    )
    past = [add_record(admin, "events", {})["id"] for _ in range(PAST)]
    future = [add_record(admin, "events", {})["id"] for _ in range(FUTURE)]
    now = dt.datetime.now(dt.timezone.utc)
    _move(past, now - dt.timedelta(days=400))
    _move(future, now + dt.timedelta(days=1))
    events = {"recent": set(), "past": set(past), "future": set(future)}
    for _ in range(RECENT):
        write_recent(admin, events)
    return events


def _ids(client, **params) -> set[str]:
    response = client.get(RECORDS, {"limit": 500, **params})
    assert response.status_code == 200, response.content
    return {item["id"] for item in response.json()["items"]}


def assert_now_partitions(select, admin, events: dict) -> None:
    """Against `@now`, records written before the request (one just before each) are at
    or before it, the future ones after it, and the six operators agree."""
    for name in FIELDS:
        write_recent(admin, events)
        found = {op: select(f"{name} {op} @now") for op in OPS}
        before = events["recent"] | events["past"]
        everything = before | events["future"]
        assert found["<="] == before, name
        assert found[">"] == events["future"], name
        assert events["past"] <= found["<"] <= before, name
        assert found["="] <= events["recent"], name
        assert found["<"] | found["="] == found["<="], name
        assert not found["<"] & found["="], name
        assert found[">="] == found["="] | found[">"], name
        assert found["!="] == everything - found["="], name


def test_now_in_a_filter_compares_rightly_with_every_operator(events, admin):
    assert_now_partitions(lambda text: _ids(admin, filter=text), admin, events)


def test_now_in_a_list_rule_compares_rightly_with_every_operator(
    events, admin, user_client
):
    def select(text: str) -> set[str]:
        response = admin.patch(
            "/api/v1/collections/events", {"rules": {"list": text}}, format="json"
        )
        assert response.status_code == 200, response.content
        return _ids(user_client)

    assert_now_partitions(select, admin, events)


def test_created_before_now_counts_every_record_written_just_before(events, admin):
    response = admin.get(RECORDS, {"filter": "created <= @now", "count": "1"})
    assert response.json()["total"] == RECENT + PAST


def test_a_record_written_by_a_request_carries_that_request_s_now(
    schema_db, admin, user_client
):
    create_collection(
        admin,
        "events",
        fields=[{"name": "day", "type": "date"}],
        rules={
            "view": "",
            "create": "created = @now && updated = @now",
            "update": "created <= @now && updated <= @now",
        },
    )
    record = add_record(user_client, "events", {})
    assert record["created"] == record["updated"]
    response = user_client.patch(f"{RECORDS}/{record['id']}", {}, format="json")
    assert response.status_code == 200, response.content


def test_a_timestamp_as_rendered_finds_its_record(events, admin):
    items = admin.get(RECORDS, {"limit": 500}).json()["items"]
    for item in items[:5]:
        for name in FIELDS:
            value = item[name]
            assert item["id"] in _ids(admin, filter=f'{name} = "{value}"'), name
            assert item["id"] in _ids(admin, filter=f'{name} <= "{value}"'), name
            assert item["id"] in _ids(admin, filter=f'{name} >= "{value}"'), name
            assert item["id"] not in _ids(admin, filter=f'{name} < "{value}"'), name
            assert item["id"] not in _ids(admin, filter=f'{name} > "{value}"'), name
            assert item["id"] not in _ids(admin, filter=f'{name} != "{value}"'), name


def test_a_timestamp_stored_with_microseconds_compares_as_rendered(events, admin):
    """Rows stamped outside the record API (sign-up, older versions) hold microseconds;
    they compare as the millisecond the API shows."""
    pk = next(iter(events["past"]))
    _move([pk], dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.timezone.utc))
    shown = admin.get(f"{RECORDS}/{pk}").json()
    assert shown["created"] == "2024-05-06T07:08:09.123Z"
    expected = {
        "=": True,
        "!=": False,
        ">": False,
        ">=": True,
        "<": False,
        "<=": True,
    }
    for name in FIELDS:
        for op, holds in expected.items():
            text = f'{name} {op} "2024-05-06T07:08:09.123Z"'
            assert (pk in _ids(admin, filter=text)) is holds, text
        assert pk in _ids(admin, filter=f'{name} < "2024-05-06T07:08:09.124Z"')
        assert pk in _ids(admin, filter=f'{name} > "2024-05-06T07:08:09.122Z"')


def test_a_user_signed_up_moments_ago_was_created_before_now(schema_db, admin):
    from apps.accounts.models import User

    user = User.objects.create_user(email="new@example.com", password="UserPass123!")
    response = admin.get(
        "/api/v1/collections/users/records",
        {"filter": f'id = "{user.pk}" && created <= @now && updated <= @now'},
    )
    assert [item["id"] for item in response.json()["items"]] == [user.pk]
