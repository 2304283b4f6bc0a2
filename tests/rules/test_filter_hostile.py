"""Hostile list parameters: every answer is a 400 in the error envelope naming the
parameter, or a 200 showing only records the caller could see anyway; never a 500.

The caller is alice, an app user, on a collection whose rules show her own records and
public ones: bob's private records (and his values in fields alice may not read) must
never come back, whatever `filter`, `sort`, `fields`, `expand`, `cursor`, `limit` or
`page` say.
"""

from __future__ import annotations

import base64

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    USER_PASSWORD,
    client_with,
    login,
    shared_world,
)

POSTS = "/api/v1/collections/posts/records"
OWNER_RULES = {
    "list": "owner = @request.auth.id || public = true",
    "view": "owner = @request.auth.id || public = true",
    "create": "@request.body.owner = @request.auth.id",
    "update": "owner = @request.auth.id",
    "delete": "owner = @request.auth.id",
}
# Values of bob's that alice must never see: his private titles, every hidden `secret`,
# every `note` of his (readable by the owner only).
BOB_PRIVATE = ("BOB-PRIVATE-1", "BOB-PRIVATE-2")
HIDDEN = ("HIDDEN-SECRET-A", "HIDDEN-SECRET-B", "HIDDEN-SECRET-C")
BOB_NOTE = "BOB-NOTE"
LEAKS = (*BOB_PRIVATE, *HIDDEN, BOB_NOTE, "Traceback", "SELECT ", "psycopg", "sqlite")


class World:
    def __init__(self) -> None:
        from apps.accounts.models import User
        from apps.records.records import record_create

        User.objects.create_superuser(email=ADMIN_EMAIL, password=ADMIN_PASSWORD)
        alice = User.objects.create_user(
            email="alice@example.com", password=USER_PASSWORD
        )
        bob = User.objects.create_user(email="bob@example.com", password=USER_PASSWORD)
        admin = client_with(login(ADMIN_EMAIL, ADMIN_PASSWORD))
        response = admin.post(
            "/api/v1/collections",
            {
                "name": "posts",
                "fields": [
                    {"name": "title", "type": "text"},
                    {"name": "public", "type": "bool"},
                    {
                        "name": "owner",
                        "type": "relation",
                        "options": {"collection": "users"},
                    },
                    {
                        "name": "tags",
                        "type": "select",
                        "options": {"values": ["a", "b", "c"], "multiple": True},
                    },
                    {"name": "n", "type": "number"},
                    {"name": "day", "type": "date"},
                    {"name": "data", "type": "json"},
                    {"name": "secret", "type": "text", "hidden": True},
                    {
                        "name": "note",
                        "type": "text",
                        "rules": {"read": "owner = @request.auth.id"},
                    },
                ],
                "rules": OWNER_RULES,
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        superuser = User.objects.get(email=ADMIN_EMAIL)

        def create(**data) -> str:
            return record_create(actor=superuser, collection="posts", data=data)["id"]

        common = {"tags": ["a"], "n": 1, "day": "2024-01-01T00:00:00Z", "data": {}}
        self.visible = {
            create(title="alice 1", owner=alice.pk, secret=HIDDEN[0], **common),
            create(title="alice 2", owner=alice.pk, note="alice's note", n=2),
            create(
                title="bob public",
                owner=bob.pk,
                public=True,
                note=BOB_NOTE,
                secret=HIDDEN[1],
                tags=["b"],
            ),
        }
        self.foreign = {
            create(title=BOB_PRIVATE[0], owner=bob.pk, secret=HIDDEN[2], **common),
            create(title=BOB_PRIVATE[1], owner=bob.pk, note=BOB_NOTE, n=-5),
        }
        self.alice = client_with(login(alice.email, USER_PASSWORD))


world, transactional_db = shared_world(World)
pytestmark = pytest.mark.usefixtures("transactional_db")


def check(world: World, params: dict, *, expect: int | None = None) -> dict:
    """The answer is a 400 naming one of `params`, or a 200 with visible rows only."""
    response = world.alice.get(POSTS, params)
    text = response.content.decode()
    assert response.status_code in (200, 400), (params, response.status_code, text)
    if expect is not None:
        assert response.status_code == expect, (params, text[:300])
    sent = " ".join(str(v) for v in params.values())
    for leak in LEAKS:  # an error may quote the request, nothing else
        assert leak in sent or leak not in text, (params, leak)
    body = orjson.loads(response.content)
    if response.status_code == 400:
        assert body["status"] == 400
        assert body["errors"] and all(
            e["code"] and e["message"] for e in body["errors"]
        )
        named = {e.get("param") for e in body["errors"]}
        assert named & set(params), (params, body)
        return body
    ids = {item["id"] for item in body["items"]}
    assert ids <= world.visible, (params, ids & world.foreign)
    if body.get("next_cursor"):  # the cursor holds sort values: none unreadable
        raw = base64.urlsafe_b64decode(body["next_cursor"] + "=" * 4).decode()
        for leak in LEAKS:
            assert leak in sent or leak not in raw, (params, leak, raw)
    if "total" in body:
        assert body["total"] <= len(world.visible)
    return body


# --- filter ---------------------------------------------------------------------------
INJECTIONS = [
    'title = "x\' OR 1=1 --"',
    "title = 'x\" OR 1=1 --'",
    "title = 'a'); DROP TABLE baas_users; --'",
    "title = '' OR '1'='1'",
    "title ~ '%'",
    "title ~ '_'",
    "title ~ '\\\\'",
    "title = 'alice 1' UNION SELECT * FROM baas_users",
    "title = 'x'; SELECT 1",
    "title = 'x' -- comment",
    "title = 'x' /* comment */",
    'tags ?= "a\') OR 1=1 --"',
    "owner.email ~ \"' OR '1'='1\"",
    "id = \"x' OR id != '\"",
]
ODD_VALUES = [
    "title = 'caf\u00e9 \u2603 \U0001f600'",
    "title = '\u202e\u200b'",
    "title = '\ud7ff'",
    "title = 'a\x00b'",
    "title ~ '\x00'",
    "title != '\x00'",
    "id = '\x00'",
    "owner = '\x00'",
    "tags ?= '\x00'",
    "tags = '\x00'",
    "day = '2024\x00'",
    "title = '" + "x" * 4000 + "'",
    "title ~ '" + "x" * 4000 + "'",
    "title = '" + "x" * 5000 + "'",
    "(" * 10_000 + "title = 'a'" + ")" * 10_000,
    "(" * 16 + "title = 'a'" + ")" * 16,
    " || ".join(["title = 'a'"] * 100),
    " || ".join(["title = 'a'"] * 64),
    " && ".join(["n > 0"] * 64),
]
NUMBERS = [
    "n > 1e999",
    "n > -1e999",
    "n = -0",
    "n = -0.0",
    "n < 18446744073709551616",
    "n < 9007199254740993",
    "n < 9007199254740992",
    "n > 1e308",
    "n > 1e-999",
    "n = 1" + "0" * 4000,
    "n = 0." + "0" * 4000 + "1",
    "title = 1e999",
    "day > 1e300",
    "public = 2",
    "public > true",
]
MACROS_AND_PATHS = [
    "@request.auth.password != ''",
    "@request.auth.is_superuser = true",
    "@request.auth.is_staff = true",
    "@request.auth.id.x = 1",
    "@request.auth = 1",
    "@request.headers.authorization != ''",
    "@request.query.x = 1",
    "@collection.users.email != ''",
    "@nope = 1",
    "@request.body.title = 'x'",
    "@request.body.nope = 'x'",
    "@request.method = 'GET'",
    "@now > created",
    "@request.auth.id = @request.auth.id",
    "owner != @request.auth.id",
    "owner.password != ''",
    "owner.is_superuser = true",
    "owner.email = 'bob@example.com'",
    "owner.email ~ 'bob'",
    "owner.id != ''",
    "owner.owner.owner = 'x'",
    ".".join(["owner"] * 200) + " = 'x'",
    ".".join(["a"] * 1000) + " = 'x'",
    "x" * 4000 + " = 1",
    "secret = 'HIDDEN-SECRET-C'",
    "secret != ''",
    "note = 'BOB-NOTE'",
    "note ~ 'BOB'",
    "note != ''",
    "title = note",
    "password = 'x'",
    "email = 'x'",
    "created > '9999-12-31T23:59:59-23:59'",
    "day < '0001-01-01T00:00:00+23:59'",
    "day > '99999-01-01'",
    "owner ~ 'a'",
    "tags ~ 'a'",
]
GARBAGE = [
    "",
    " ",
    "\x00",
    "=",
    "title",
    "title =",
    "= 'a'",
    "title == 'a'",
    "title = 'a",
    "title = \"a'",
    "title = 'a\\'",
    "title = 'a\\x'",
    "title = 'a' &&",
    "|| title = 'a'",
    "title = 'a' title = 'b'",
    "title = 'a' & n = 1",
    "(title = 'a'",
    "title = 'a')",
    ")(",
    "true",
    "null = null",
    "'a' = 'a'",
    "1 = 1",
    "'a' ~ title",
    "TITLE = 'a'",
    "title = TRUE",
    "title = undefined",
    "title = NaN",
    "n = Infinity",
    "n = 0x10",
    "n = 1_000",
    "n = .5",
    "n = 5.",
    "n = +5",
    "n = --5",
    "n = 1e",
    "\ufefftitle = 'a'",
    "title\u00a0= 'a'",
    "title = 'a'\n",
    "title\t=\r\n'a'",
    "title = '\n'",
    "\\",
    "%00",
    "%27 OR 1=1",
]


@pytest.mark.parametrize(
    "text", INJECTIONS + ODD_VALUES + NUMBERS + MACROS_AND_PATHS + GARBAGE
)
def test_hostile_filter_is_a_400_or_shows_only_visible_rows(world, text):
    check(world, {"filter": text})
    check(world, {"filter": text, "count": "true", "sort": "-n"})


@pytest.mark.parametrize(
    "text, expect",
    [
        ('title = "x\' OR 1=1 --"', 200),
        ("title = 'a'); DROP TABLE baas_users; --'", 400),
        ('title = "a\'); DROP TABLE baas_users; --"', 200),
        ("(" * 10_000 + "title = 'a'" + ")" * 10_000, 400),
        (" || ".join(["title = 'a'"] * 100), 400),
        ("title = '" + "x" * 5000 + "'", 400),
        ("n > 1e999", 400),
        ("n < 18446744073709551616", 400),
        ("n = -0", 200),
        ("@request.auth.password != ''", 400),
        ("@request.auth.is_superuser = true", 400),
        ("@nope = 1", 400),
        ("owner.password != ''", 400),
        ("owner.is_superuser = true", 400),
        (".".join(["owner"] * 200) + " = 'x'", 400),
        ("secret = 'HIDDEN-SECRET-C'", 400),
        ("password = 'x'", 400),
    ],
)
def test_hostile_filter_outcomes(world, text, expect):
    body = check(world, {"filter": text}, expect=expect)
    if expect == 200 and text.startswith("title"):
        assert body["items"] == []


@pytest.mark.parametrize(
    "text, titles",
    [
        # users' view rule: alice may view herself only.
        ("owner.email = 'bob@example.com'", set()),
        ("owner.email ~ 'bob'", set()),
        ("owner.email ~ 'alice'", {"alice 1", "alice 2"}),
        # note's read rule: its owner only (bob's public record has one).
        ("note = 'BOB-NOTE'", set()),
        ("note ~ 'BOB'", set()),
        ("note != ''", {"alice 2"}),
        ("owner != @request.auth.id", {"bob public"}),
        ("owner != @request.auth.id && title ~ 'PRIVATE'", set()),
        ("@request.auth.id = @request.auth.id && title ~ 'PRIVATE'", set()),
    ],
)
def test_filters_cannot_probe_what_alice_may_not_read(world, text, titles):
    body = check(world, {"filter": text, "count": "true"}, expect=200)
    assert {item["title"] for item in body["items"]} == titles
    assert body["total"] == len(titles)


def test_nul_in_a_filter_value_is_not_a_server_error(world):
    """PostgreSQL refuses NUL in text parameters: the filter must answer 400 (or an
    empty 200), not fail in the database."""
    for text in ("title = 'a\x00b'", "id = '\x00'", "owner = '\x00'", "tags ?= '\x00'"):
        check(world, {"filter": text})


# --- sort, fields, expand -------------------------------------------------------------
@pytest.mark.parametrize(
    "name, value",
    [
        ("sort", "secret"),
        ("sort", "-secret"),
        ("sort", "note"),
        ("sort", "password"),
        ("sort", "owner.email"),
        ("sort", "tags"),
        ("sort", "data"),
        ("sort", "title;DROP TABLE baas_users"),
        ("sort", "title desc"),
        ("sort", "-"),
        ("sort", "+"),
        ("sort", "--title"),
        ("sort", ",,"),
        ("sort", ",".join(["title"] * 9)),
        ("sort", "x" * 5000),
        ("sort", "title\x00"),
        ("sort", "\x00"),
        ("sort", "ti%tle"),
        ("fields", "secret"),
        ("fields", "password"),
        ("fields", "nope"),
        ("fields", ","),
        ("fields", "title,,n"),
        ("fields", "x" * 5000),
        ("fields", "title\x00"),
        ("fields", "owner.email"),
        ("fields", "owner.password"),
        ("fields", "." * 100),
        ("expand", "nope"),
        ("expand", "title"),
        ("expand", "secret"),
        ("expand", "owner.owner.owner.owner.owner"),
        ("expand", ",".join(["owner"] * 50)),
        ("expand", "owner." + "x" * 5000),
        ("expand", "\x00"),
        ("expand", "owner\x00"),
        ("expand", ","),
        ("expand", "."),
    ],
)
def test_hostile_sort_fields_and_expand(world, name, value):
    body = check(world, {name: value})
    if "secret" in value or "password" in value:
        assert "errors" in body, "a hidden or absent field was accepted"


def test_expanding_owner_shows_only_users_alice_may_view(world):
    body = check(world, {"expand": "owner", "fields": "title,owner.email"}, expect=200)
    assert "bob@example.com" not in orjson.dumps(body).decode()


# --- cursor, limit, page --------------------------------------------------------------
def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def real_cursor(world: World, sort: str) -> tuple[str, list]:
    """A cursor the server made for `sort`, decoded: [signature, values]."""
    body = check(world, {"sort": sort, "limit": "1"}, expect=200)
    cursor = body["next_cursor"]
    assert cursor
    return cursor, orjson.loads(base64.urlsafe_b64decode(cursor + "=" * 4))


FORGED_VALUES = [
    [],
    [None],
    [None, None, None],
    [1e308, "x"],
    [2**63, "x"],
    [-(2**63), "x"],
    ["\x00", "x"],
    ["x", "\x00"],
    [["nested"], "x"],
    [{"a": 1}, "x"],
    [True, "x"],
    ["x" * 20_000, "x"],
    ["9999-12-31T23:59:59-23:59", "x"],
    ["2024-01-01T00:00:00", "x"],
    ["not a date", "x"],
]


@pytest.mark.parametrize("sort", ["-created", "title", "-n", "public", "-day", "note"])
@pytest.mark.parametrize("values", FORGED_VALUES)
def test_forged_cursor_values(world, sort, values):
    _, (signature, _) = real_cursor(world, sort)
    forged = b64(orjson.dumps([signature, values]))
    check(world, {"sort": sort, "cursor": forged})


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "\x00",
        "a",
        "=" * 10,
        "x" * 100_000,
        b64(b"\xff\xfe\x00"),
        b64(b"null"),
        b64(b"[]"),
        b64(b"{}"),
        b64(b"[1, 2]"),
        b64(b'["a"]'),
        b64(b'["a", "b", "c"]'),
        b64(b'[null, [1, "x"]]'),
        b64(b"[" * 5000 + b"]" * 5000),
        b64(b'"' + b"x" * 100_000 + b'"'),
        b64(orjson.dumps(["-F(created),-F(id)", [None, None]])),
    ],
)
def test_garbage_cursor(world, cursor):
    check(world, {"cursor": cursor})
    check(world, {"cursor": cursor, "sort": "title"})


@pytest.mark.parametrize("sort", ["note", "-note", "note,-title", "-secret"])
def test_sorting_by_a_field_alice_may_not_read_reveals_nothing(world, sort):
    """Unreadable values sort as empty: the order and the cursors cannot tell them."""
    seen, cursor = [], None
    for _ in range(5):
        params = {"sort": sort, "limit": "1"}
        if cursor:
            params["cursor"] = cursor
        body = check(world, params)
        if "errors" in body:  # secret: hidden, not even sortable
            assert sort == "-secret"
            return
        seen += [item["title"] for item in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(world.visible)
    descending = sort.startswith("-")
    # Empties (and masked values) sort as the largest: the one readable note comes first
    # ascending and last descending.
    assert seen[-1 if descending else 0] == "alice 2"  # the only note alice can read


def test_cursor_of_another_sort_is_refused(world):
    cursor, _ = real_cursor(world, "title")
    check(world, {"cursor": cursor, "sort": "-n"}, expect=400)


def test_paging_with_a_cursor_never_reaches_foreign_rows(world):
    seen, cursor = [], None
    for _ in range(10):
        params = {"sort": "-n", "limit": "1", "filter": "n != 99"}
        if cursor:
            params["cursor"] = cursor
        body = check(world, params, expect=200)
        seen += [i["id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(world.visible)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "-1"},
        {"limit": "501"},
        {"limit": "abc"},
        {"limit": "1.5"},
        {"limit": "1e3"},
        {"limit": "9" * 100},
        {"limit": "\x00"},
        {"limit": "٣"},  # an Arabic-Indic digit: int() accepts it
        {"page": "0"},
        {"page": "-1"},
        {"page": "1000001"},
        {"page": "9" * 5000},
        {"page": "x"},
        {"page": "\x00"},
        {"page": "1000000", "limit": "500"},
        {"page": "2", "cursor": "abc"},
        {"count": "\x00"},
        {"count": "yes"},
    ],
)
def test_limit_page_and_count_out_of_range(world, params):
    check(world, params)


# --- fuzz -----------------------------------------------------------------------------
TOKENS = st.sampled_from(
    [
        "title",
        "note",
        "secret",
        "owner",
        "owner.email",
        "owner.password",
        "tags",
        "n",
        "day",
        "data",
        "public",
        "id",
        "created",
        "=",
        "!=",
        "?=",
        "~",
        "!~",
        ">",
        "<=",
        "?>",
        "&&",
        "||",
        "(",
        ")",
        "'a'",
        '"BOB-PRIVATE-1"',
        "'HIDDEN-SECRET-C'",
        "''",
        "'\x00'",
        "'9999-12-31T23:59:59-23:59'",
        "'2024-01-01T00:00:00Z'",
        "1",
        "-0",
        "1e999",
        "1e308",
        "18446744073709551616",
        "true",
        "null",
        "@request.auth.id",
        "@request.auth.email",
        "@request.auth.password",
        "@request.body.title",
        "@now",
        "@request.method",
    ]
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    text=st.one_of(
        st.lists(TOKENS, min_size=1, max_size=12).map(" ".join),
        st.text(max_size=60),
    ),
    sort=st.sampled_from([None, "-n", "title", "note"]),
)
def test_fuzzed_filters_never_fail_or_leak(world, text, sort):
    params = {"filter": text}
    if sort:
        params["sort"] = sort
    check(world, params)


# --- delta sync: since and limit ------------------------------------------------------
@pytest.mark.parametrize(
    "params",
    [
        {"since": "!!!"},
        {"since": "\x00"},
        {"since": "x" * 100_000},
        {"since": "1.0.0"},
        {"since": "1.-1.0"},
        {"since": "2.0.0"},
        {"since": "1.99999999999999999999.0"},
        {"since": "1.9223372036854775807.9223372036854775807"},
        {"since": b64(b"1.0.0")},
        {"since": b64(orjson.dumps({"txid": -1}))},
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "\x00"},
        {"limit": "9" * 5000},
    ],
)
def test_hostile_changes_parameters(world, params):
    response = world.alice.get("/api/v1/collections/posts/changes", params)
    text = response.content.decode()
    assert response.status_code in (200, 400, 410), (params, text)
    body = orjson.loads(response.content)
    if response.status_code != 200:
        assert body["status"] == response.status_code and body["errors"]
        return
    for leak in LEAKS:
        assert leak not in text, (params, leak)
    ids = {
        c["record"]["id"] if c["op"] == "upsert" else c["id"] for c in body["changes"]
    }
    assert ids <= world.visible, (params, ids & world.foreign)
