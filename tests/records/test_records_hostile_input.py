"""Whatever a client sends to the record endpoints, the answer is a 4xx in the envelope, never a 500."""

from __future__ import annotations

import base64
import secrets

import orjson
import pytest
from django.db import connection
from django.test import override_settings

from apps.collections.dynamic import cache
from apps.collections.services import get_spec

RECORDS = "/api/v1/collections/things/records"


def create_collection(admin, name: str, fields: list[dict], **extra) -> None:
    response = admin.post(
        "/api/v1/collections", {"name": name, "fields": fields, **extra}, format="json"
    )
    assert response.status_code == 201, response.content


def stored_rows(name: str = "things") -> int:
    return cache.model_for(get_spec(name)).objects.count()


def assert_error(
    response, status: int | tuple[int, ...], param: str | None = None
) -> dict:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.content)
    assert response["Content-Type"].startswith("application/json")
    body = orjson.loads(response.content)
    assert body["status"] == response.status_code
    assert body["errors"] and all(e["code"] and e["message"] for e in body["errors"])
    if param is not None:
        assert param in [e.get("param") for e in body["errors"]], body
    text = response.content.decode()
    for leak in (
        "Traceback",
        'File "',
        "SELECT ",
        "INSERT ",
        "psycopg",
        "sqlite3",
        "/work/",
    ):
        assert leak not in text
    return body


def post_raw(
    client, body: bytes, content_type: str = "application/json", url: str = RECORDS
):
    return client.generic("POST", url, body, content_type=content_type)


@pytest.fixture
def every_type(schema_db, admin):
    create_collection(admin, "targets", [{"name": "label", "type": "text"}])
    create_collection(
        admin,
        "things",
        [
            {"name": "text", "type": "text"},
            {"name": "number", "type": "number"},
            {"name": "integer", "type": "number", "options": {"integer": True}},
            {"name": "flag", "type": "bool"},
            {"name": "mail", "type": "email"},
            {"name": "link", "type": "url"},
            {"name": "moment", "type": "date"},
            {"name": "choice", "type": "select", "options": {"values": ["a", "b"]}},
            {
                "name": "choices",
                "type": "select",
                "options": {"values": ["a", "b"], "multiple": True},
            },
            {"name": "data", "type": "json"},
            {
                "name": "target",
                "type": "relation",
                "options": {"collection": "targets"},
            },
            {
                "name": "targets",
                "type": "relation",
                "options": {"collection": "targets", "multiple": True},
            },
            {"name": "author", "type": "relation", "options": {"collection": "users"}},
        ],
    )
    return admin


# --- wrong JSON types ----------------------------------------------------------------

WRONG_TYPES = {
    "text": [1, 1.5, True, [], {}, ["a"]],
    "number": ["1", "one", True, False, [], {}, [1]],
    "integer": ["1", True, [1], {"n": 1}],
    "flag": ["true", "false", 1, 0, [], {}, [True]],
    "mail": [1, True, [], {}, ["a@example.com"], {"email": "a@example.com"}],
    "link": [1, True, [], {}, ["https://example.com"]],
    "moment": [1700000000, 1.5, True, [], {}, ["2024-01-01"]],
    "choice": [1, True, ["a"], {}, {"a": 1}],
    "choices": [1, True, {}, [1], [None], [["a"]], [{"a": 1}], [True]],
    "target": [1, True, ["abc"], {}, {"id": "abc"}],
    "targets": [1, True, {}, [1], [None], [["abc"]], [{"id": "abc"}]],
    "author": [1, False, [], {}],
}
WRONG_TYPE_CASES = [
    (field, value) for field, values in WRONG_TYPES.items() for value in values
]


@pytest.mark.parametrize(
    "field, value",
    WRONG_TYPE_CASES,
    ids=[f"{f}-{i}" for i, (f, _) in enumerate(WRONG_TYPE_CASES)],
)
def test_a_value_of_the_wrong_json_type_is_400_naming_the_field(
    every_type, field, value
):
    response = every_type.post(RECORDS, {field: value}, format="json")
    assert_error(response, 400, field)
    assert stored_rows() == 0


@pytest.mark.parametrize(
    "field, value",
    WRONG_TYPE_CASES,
    ids=[f"{f}-{i}" for i, (f, _) in enumerate(WRONG_TYPE_CASES)],
)
def test_a_patch_with_the_wrong_json_type_is_400(every_type, field, value):
    record = every_type.post(RECORDS, {}, format="json").json()
    response = every_type.patch(
        f"{RECORDS}/{record['id']}", {field: value}, format="json"
    )
    assert_error(response, 400, field)
    assert every_type.get(f"{RECORDS}/{record['id']}").json() == record


@pytest.mark.parametrize("field", sorted(WRONG_TYPES) + ["data"])
def test_null_clears_any_optional_field(every_type, field):
    response = every_type.post(RECORDS, {field: None}, format="json")
    assert response.status_code == 201, response.content


# --- numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "literal",
    [
        b"1e400",
        b"-1e400",
        b"NaN",
        b"Infinity",
        b"-Infinity",
        b"nan",
        b"1e",
        b"01",
        b"+1",
        b"0x10",
        b".5",
    ],
)
@pytest.mark.parametrize("field", ["number", "data"])
def test_non_json_or_infinite_numbers_are_400(every_type, literal, field):
    response = post_raw(every_type, b'{"' + field.encode() + b'": ' + literal + b"}")
    assert_error(response, 400)
    assert stored_rows() == 0


@pytest.mark.parametrize("value", [2**64 - 1, 2**63, -(2**60), -(2**63), 2**53 + 1])
def test_integers_a_double_cannot_hold_exactly_are_refused_by_number_fields(
    every_type, value
):
    response = every_type.post(RECORDS, {"number": value}, format="json")
    assert_error(response, 400, "number")
    assert stored_rows() == 0


@pytest.mark.parametrize(
    "literal, value",
    [
        (b"18446744073709551616", 1.8446744073709552e19),
        (b"1e308", 1e308),
        (b"-1.7976931348623157e308", -1.7976931348623157e308),
        (b"-0.0", 0),
    ],
)
@pytest.mark.parametrize("field", ["number", "data"])
def test_extreme_finite_numbers_are_stored_and_read_back(
    every_type, literal, field, value
):
    response = post_raw(every_type, b'{"' + field.encode() + b'": ' + literal + b"}")
    assert response.status_code == 201, response.content
    assert response.json()[field] == value
    assert every_type.get(f"{RECORDS}/{response.json()['id']}").json()[field] == value
    assert every_type.get(RECORDS).json()["items"][0][field] == value


@pytest.mark.parametrize(
    "literal", [b"18446744073709551616", b"1e308", b"-1e300", b"9007199254740994.0"]
)
def test_an_integer_field_refuses_integers_a_double_cannot_hold_even_when_parsed_as_floats(
    every_type, literal
):
    assert_error(post_raw(every_type, b'{"integer": ' + literal + b"}"), 400, "integer")
    assert stored_rows() == 0


def test_an_integer_field_accepts_its_bounds(every_type):
    for value in (2**53, -(2**53), 0, 9007199254740992.0):
        assert (
            every_type.post(RECORDS, {"integer": value}, format="json").json()[
                "integer"
            ]
            == value
        )


def test_the_smallest_double_is_a_number_but_not_an_integer(every_type):
    assert post_raw(every_type, b'{"number": 5e-324}').status_code == 201
    assert_error(post_raw(every_type, b'{"integer": 5e-324}'), 400, "integer")


@pytest.mark.parametrize("value", [2**64 - 1, -(2**63), 2**53 + 1, 1e308])
def test_a_json_field_stores_big_numbers_exactly(every_type, value):
    response = every_type.post(RECORDS, {"data": {"n": value}}, format="json")
    assert response.status_code == 201, response.content
    fetched = every_type.get(f"{RECORDS}/{response.json()['id']}").json()
    assert fetched["data"] == {"n": value}


# --- strings: NUL, unicode, size -------------------------------------------------------

NUL_CASES = [
    ("text", "a\x00b"),
    ("mail", "a\x00@example.com"),
    ("link", "https://example.com/\x00"),
    ("moment", "2024-01-01\x00"),
    ("choice", "a\x00"),
    ("choices", ["a", "\x00"]),
    ("target", "abc\x00"),
    ("targets", ["abc\x00"]),
    ("data", "\x00"),
    ("data", {"k": "v\x00"}),
    ("data", {"k\x00": "v"}),
    ("data", [[["\x00"]]]),
]


@pytest.mark.parametrize("field, value", NUL_CASES)
def test_nul_characters_are_400_on_create_and_patch(every_type, field, value):
    assert_error(every_type.post(RECORDS, {field: value}, format="json"), 400, field)
    assert stored_rows() == 0
    record = every_type.post(RECORDS, {}, format="json").json()
    response = every_type.patch(
        f"{RECORDS}/{record['id']}", {field: value}, format="json"
    )
    assert_error(response, 400, field)


def test_a_nul_escape_in_raw_json_is_400(every_type):
    assert_error(post_raw(every_type, b'{"text": "x\\u0000y"}'), 400, "text")
    assert_error(post_raw(every_type, b'{"data": {"\\u0000": 1}}'), 400, "data")
    assert stored_rows() == 0


def test_a_nul_in_an_unknown_key_is_400(every_type):
    assert_error(post_raw(every_type, b'{"a\\u0000b": 1}'), 400)
    assert stored_rows() == 0


@pytest.mark.parametrize(
    "body",
    [
        b'{"text": "\xff"}',
        b'{"text": "\xc3"}',
        b'{"text": "\xed\xa0\x80"}',
        b"\xfe\xff\x00{",
        b'{"text": "\\ud800"}',
        b'{"text": "\\udc00x"}',
        b"\xef\xbb\xbf{}",
    ],
)
def test_invalid_utf8_and_lone_surrogates_are_400(every_type, body):
    assert_error(post_raw(every_type, body), 400)
    assert stored_rows() == 0


def test_astral_and_combining_characters_are_stored_as_sent(every_type):
    text = "😀 e\u0301 \u202e RTL \ufeff zero\u200bwidth 𝕏"
    response = every_type.post(
        RECORDS, {"text": text, "data": {text: text}}, format="json"
    )
    assert response.status_code == 201
    fetched = every_type.get(f"{RECORDS}/{response.json()['id']}").json()
    assert fetched["text"] == text
    assert fetched["data"] == {text: text}


def test_a_large_text_value_within_the_body_limit_is_stored(every_type):
    text = secrets.token_hex(250_000)
    response = every_type.post(RECORDS, {"text": text}, format="json")
    assert response.status_code == 201
    assert every_type.get(f"{RECORDS}/{response.json()['id']}").json()["text"] == text


@pytest.mark.parametrize(
    "definition",
    [
        {"type": "text", "unique": True},
        {"type": "url", "unique": True},
    ],
)
def test_a_huge_value_in_a_unique_field_is_not_a_500(schema_db, admin, definition):
    create_collection(admin, "things", [{"name": "v", **definition}])
    random_text = secrets.token_urlsafe(6000)
    value = (
        random_text
        if definition["type"] == "text"
        else "https://example.com/"
        + "".join(chr(0x400 + secrets.randbelow(0x100)) for _ in range(2000))
    )
    response = admin.post(RECORDS, {"v": value}, format="json")
    assert_stored_or_too_large_for_index(response, ["v"])


@pytest.mark.parametrize("unique", [False, True])
def test_a_huge_value_in_an_indexed_text_field_is_not_a_500(schema_db, admin, unique):
    create_collection(
        admin,
        "things",
        [{"name": "v", "type": "text"}, {"name": "w", "type": "text"}],
        indexes=[{"fields": ["v", "w"], "unique": unique}],
    )
    record = admin.post(RECORDS, {"v": "small"}, format="json").json()
    response = admin.post(RECORDS, {"v": secrets.token_urlsafe(6000)}, format="json")
    assert_stored_or_too_large_for_index(response, ["v", "w"], rows=1)
    patched = admin.patch(
        f"{RECORDS}/{record['id']}", {"w": secrets.token_urlsafe(6000)}, format="json"
    )
    assert_stored_or_too_large_for_index(patched, ["v", "w"], rows=1)


def assert_stored_or_too_large_for_index(
    response, params: list[str], rows: int = 0
) -> None:
    """PostgreSQL cannot index entries over ~2.7 kB: that is a 400 there; SQLite stores them."""
    if connection.vendor != "postgresql":
        assert response.status_code in (200, 201), response.content
        return
    body = assert_error(response, 400)
    assert [e["param"] for e in body["errors"]] == params
    assert {e["code"] for e in body["errors"]} == {"too_large_for_index"}
    assert stored_rows() == rows


# --- structure -----------------------------------------------------------------------


@pytest.mark.parametrize("depth", [33, 1000, 10_000, 100_000])
def test_deeply_nested_json_is_400(every_type, depth):
    body = b'{"data": ' + b"[" * depth + b"]" * depth + b"}"
    assert_error(post_raw(every_type, body), 400)
    body = b'{"data": ' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"
    assert_error(post_raw(every_type, body), 400)
    assert stored_rows() == 0


def test_json_nested_within_the_limit_is_stored(every_type):
    value = 1
    for _ in range(29):
        value = {"a": value}
    value = [value]
    response = every_type.post(RECORDS, {"data": value}, format="json")
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b'{"text": }',
        b'{"text": "x",}',
        b"{'text': 'x'}",
        b'{"text": "x"} trailing',
        b'{"text": "x"}{"text": "y"}',
        b'{text: "x"}',
        b'{"text": "unterminated',
        b"undefined",
        b"\x00",
        b"// comment\n{}",
    ],
)
def test_malformed_json_is_400(every_type, body):
    body = assert_error(post_raw(every_type, body), 400)
    assert body["errors"][0]["code"] == "malformed_body"
    assert stored_rows() == 0


@pytest.mark.parametrize(
    "body", [b"[]", b'[{"text": "x"}]', b'"text"', b"42", b"true", b"null"]
)
def test_a_body_that_is_not_a_json_object_is_400(every_type, body):
    assert_error(post_raw(every_type, body), 400)
    record = every_type.post(RECORDS, {}, format="json").json()
    response = every_type.generic(
        "PATCH", f"{RECORDS}/{record['id']}", body, content_type="application/json"
    )
    assert_error(response, 400)
    assert stored_rows() == 1


def test_an_empty_body_creates_nothing_when_a_field_is_required(schema_db, admin):
    create_collection(
        admin, "things", [{"name": "title", "type": "text", "required": True}]
    )
    assert_error(post_raw(admin, b""), 400)
    assert stored_rows() == 0


def test_unknown_fields_are_400_naming_them_and_nothing_is_written(every_type):
    response = every_type.post(
        RECORDS, {"text": "ok", "nope": 1, "__class__": "x"}, format="json"
    )
    body = assert_error(response, 400, "nope")
    assert "__class__" in [e.get("param") for e in body["errors"]]
    assert stored_rows() == 0


def test_thousands_of_unknown_fields_are_a_400(every_type):
    response = every_type.post(
        RECORDS, {f"k{i}": i for i in range(5000)}, format="json"
    )
    assert_error(response, 400)
    assert stored_rows() == 0


@pytest.mark.parametrize(
    "attribute", ["pk", "objects", "f_id", "password", "email", "is_superuser"]
)
def test_model_attributes_and_columns_are_not_fields(every_type, attribute):
    assert_error(
        every_type.post(RECORDS, {attribute: "x"}, format="json"), 400, attribute
    )
    assert stored_rows() == 0


# --- size ----------------------------------------------------------------------------


def test_a_body_over_the_size_limit_is_413(every_type):
    with override_settings(BAAS_MAX_BODY_SIZE=1000):
        response = every_type.post(RECORDS, {"text": "x" * 2000}, format="json")
        assert_error(response, 413)
        record = every_type.post(RECORDS, {}, format="json").json()
        patched = every_type.patch(
            f"{RECORDS}/{record['id']}", {"text": "x" * 2000}, format="json"
        )
        assert_error(patched, 413)
    assert stored_rows() == 1


def test_a_body_over_the_default_size_limit_is_413(every_type):
    from django.conf import settings

    response = post_raw(
        every_type, b'{"text": "' + b"x" * (settings.BAAS_MAX_BODY_SIZE + 1) + b'"}'
    )
    assert_error(response, 413)
    assert stored_rows() == 0


def test_an_invalid_content_length_is_400(every_type):
    response = every_type.generic(
        "POST", RECORDS, b"{}", content_type="application/json", CONTENT_LENGTH="lots"
    )
    assert_error(response, 400)


# --- content types -------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("text/plain", b'{"text": "x"}'),
        ("", b'{"text": "x"}'),
        ("application/x-www-form-urlencoded", b"text=x"),
        ("multipart/form-data", b"text=x"),  # no boundary
        ("multipart/form-data; boundary=XX", b"not a multipart body"),
        ("multipart/form-data; boundary=XX", b"--XX--\r\n"),  # no parts at all
        ("application/xml", b"<text>x</text>"),
        ("application/octet-stream", b"\x00\x01"),
    ],
)
def test_an_unsupported_content_type_is_415_or_400(every_type, content_type, body):
    assert_error(post_raw(every_type, body, content_type), (400, 415))
    record = every_type.post(RECORDS, {}, format="json").json()
    response = every_type.generic(
        "PATCH", f"{RECORDS}/{record['id']}", body, content_type=content_type
    )
    assert_error(response, (400, 415))
    assert every_type.get(f"{RECORDS}/{record['id']}").json()["text"] is None
    assert stored_rows() == 1


def test_a_multipart_body_is_a_record_payload(every_type):
    body = b'--XX\r\nContent-Disposition: form-data; name="text"\r\n\r\nx\r\n--XX--\r\n'
    response = post_raw(every_type, body, "multipart/form-data; boundary=XX")
    assert response.status_code == 201, response.content
    assert response.json()["text"] == "x"


def test_a_json_body_with_a_charset_parameter_is_accepted(every_type):
    response = post_raw(every_type, b'{"text": "x"}', "application/json; charset=utf-8")
    assert response.status_code == 201


def test_an_unsupported_method_is_405_in_the_envelope(every_type):
    assert_error(every_type.put(RECORDS, {}, format="json"), 405)


# --- unknown collections and records ----------------------------------------------------

ODD_NAMES = [
    "nope",
    "users_auth",
    "x" * 5000,
    "a%00b",
    "%C3%A9t%C3%A9",
    "..%2F..%2Fetc",
    "schema",
    "c_abc",
    "1abc",
    "a b",
]


@pytest.mark.parametrize("name", ODD_NAMES)
@pytest.mark.parametrize("method", ["get", "post"])
def test_an_unknown_collection_is_404(every_type, name, method):
    url = f"/api/v1/collections/{name}/records"
    response = (
        getattr(every_type, method)(url, {}, format="json")
        if method == "post"
        else every_type.get(url)
    )
    assert_error(response, 404)


ODD_IDS = [
    "doesnotexist123",
    "x" * 10_000,
    "a%00b",
    "%00",
    "%C3%A9",
    "ABCDEFGHIJKLMNO",
    "abc'--",
    "1%20OR%201=1",
    "%F0%9F%98%80",
]


@pytest.mark.parametrize("record_id", ODD_IDS)
@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_an_unknown_or_impossible_record_id_is_404(every_type, record_id, method):
    every_type.post(RECORDS, {"text": "keep"}, format="json")
    url = f"{RECORDS}/{record_id}"
    if method == "patch":
        response = every_type.patch(url, {"text": "changed"}, format="json")
    else:
        response = getattr(every_type, method)(url)
    assert_error(response, 404)
    assert stored_rows() == 1
    assert every_type.get(RECORDS).json()["items"][0]["text"] == "keep"


@pytest.mark.parametrize("name", ["a%00b", "x" * 5000])
def test_odd_collection_names_are_404_for_record_detail_urls(every_type, name):
    assert_error(every_type.get(f"/api/v1/collections/{name}/records/abc"), 404)
    assert_error(every_type.delete(f"/api/v1/collections/{name}/records/abc"), 404)


# --- list parameters -------------------------------------------------------------------


def _cursor(payload) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


BAD_LIST_PARAMS = [
    ({"limit": "0"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"limit": "501"}, "limit"),
    ({"limit": "abc"}, "limit"),
    ({"limit": "1.5"}, "limit"),
    ({"limit": "1e3"}, "limit"),
    ({"limit": "9" * 5000}, "limit"),
    ({"limit": "\x00"}, "limit"),
    ({"page": "0"}, "page"),
    ({"page": "-3"}, "page"),
    ({"page": "two"}, "page"),
    ({"page": "9" * 100}, "page"),
    ({"cursor": "!!!"}, "cursor"),
    ({"cursor": "a"}, "cursor"),
    ({"cursor": "x" * 10_000}, "cursor"),
    ({"cursor": base64.urlsafe_b64encode(b"not json").decode()}, "cursor"),
    ({"cursor": base64.urlsafe_b64encode(b"\xff\xfe").decode()}, "cursor"),
    ({"cursor": _cursor({"a": 1})}, "cursor"),
    ({"cursor": _cursor({"a": 1, "b": 2})}, "cursor"),
    ({"cursor": _cursor([1, 2])}, "cursor"),
    ({"cursor": _cursor(["2024-01-01T00:00:00+00:00"])}, "cursor"),
    ({"cursor": _cursor(["not a date", "abc"])}, "cursor"),
    ({"cursor": _cursor([None, None])}, "cursor"),
    ({"cursor": _cursor(42)}, "cursor"),
    ({"cursor": _cursor("2024")}, "cursor"),
    ({"cursor": _cursor(["2024-01-01T00:00:00+00:00", "abc"]), "page": "2"}, "page"),
]


@pytest.mark.parametrize("params, param", BAD_LIST_PARAMS)
def test_bad_list_parameters_are_400_naming_the_parameter(every_type, params, param):
    assert_error(every_type.get(RECORDS, params), 400, param)


@pytest.mark.parametrize(
    "payload",
    [
        ["2024-01-01T00:00:00+00:00", "abc\x00"],
        ["2024-01-01T00:00:00+00:00", "x" * 5000],
        ["2024-01-01T00:00:00+00:00", {"id": "abc"}],
        ["9999-12-31T23:59:59-14:00", "abc"],
        ["0001-01-01T00:00:00+14:00", "abc"],
        ["2024-01-01T00:00:00", "abc"],
        ["2024-01-01", "abc"],
    ],
)
def test_a_forged_cursor_is_400_or_an_empty_page_never_a_500(every_type, payload):
    every_type.post(RECORDS, {}, format="json")
    response = every_type.get(RECORDS, {"cursor": _cursor(payload)})
    if response.status_code != 200:
        assert_error(response, 400, "cursor")


def test_empty_list_parameters_fall_back_to_their_defaults(every_type):
    every_type.post(RECORDS, {}, format="json")
    response = every_type.get(
        RECORDS, {"limit": "", "page": "", "cursor": "", "count": ""}
    )
    assert response.status_code == 200
    assert len(response.json()["items"]) == 1


def test_unknown_or_repeated_query_parameters_do_not_break_listing(every_type):
    every_type.post(RECORDS, {}, format="json")
    response = every_type.get(
        RECORDS, {"limit": ["1", "2"], "count": "maybe", "x\x00": "y\x00"}
    )
    assert response.status_code == 200
    assert "total" not in response.json()


# --- big lists (each item must be checked once, not against every other item) -------


def test_a_huge_list_of_related_ids_is_refused_as_too_many(every_type):
    response = every_type.post(
        RECORDS, {"targets": [f"{i:015d}" for i in range(400_000)]}, format="json"
    )
    body = assert_error(response, 400, "targets")
    assert body["errors"][0]["code"] == "too_many"
    assert stored_rows() == 0


def test_a_huge_list_of_repeated_related_ids_is_stored_once(every_type):
    target = every_type.post(
        "/api/v1/collections/targets/records", {}, format="json"
    ).json()["id"]
    response = every_type.post(RECORDS, {"targets": [target] * 400_000}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["targets"] == [target]


def test_a_huge_list_of_repeated_choices_is_stored_once(every_type):
    response = every_type.post(
        RECORDS, {"choices": ["b", "a"] * 300_000}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["choices"] == ["b", "a"]


def test_a_huge_list_of_choices_with_one_bad_item_at_the_end_is_400(every_type):
    response = every_type.post(
        RECORDS, {"choices": ["a"] * 300_000 + ["z"]}, format="json"
    )
    assert_error(response, 400, "choices")
    assert stored_rows() == 0


@pytest.mark.parametrize(
    "accept",
    [
        "application/xml",
        "text/html",
        "*/*",
        "application/json; q=0",
        "garbage;;;",
        "image/*",
    ],
)
def test_any_accept_header_gets_json_or_a_json_refusal(every_type, accept):
    every_type.post(RECORDS, {}, format="json")
    response = every_type.get(RECORDS, HTTP_ACCEPT=accept)
    if response.status_code != 200:
        assert_error(response, 406)
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("fmt", ["json", "xml", "api", "\x00"])
def test_a_format_query_parameter_never_causes_a_500(every_type, fmt):
    response = every_type.get(RECORDS, {"format": fmt})
    if response.status_code != 200:
        assert_error(response, (404, 406))
