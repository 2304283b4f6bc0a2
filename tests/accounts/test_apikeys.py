"""API keys: created on the command line, shown once, stored hashed, scoped, revocable."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from django.utils import timezone

from apps.accounts.apikeys import apikey_authenticate, apikey_create, apikey_revoke
from apps.accounts.models import ApiKey
from apps.core.exceptions import InvalidInput
from baas import cli
from tests.conftest import client_with

KEY_RE = re.compile(r"bk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")
RECORDS = "/api/v1/collections/users/records"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli_db(transactional_db):
    """The CLI runs `migrate` first, which wants a real (not wrapped) transaction."""
    from apps.collections.bootstrap import ensure_users_collection
    from apps.collections.models import Collection

    ensure_users_collection(Collection)


# --- the command line --------------------------------------------------------------


def test_apikey_create_prints_the_key_once_and_stores_only_its_hash(cli_db, capsys):
    code, out, err = run(
        capsys, "apikey", "create", "--name", "backend", "--scopes", "records:read"
    )

    assert code == 0, err
    keys = KEY_RE.findall(out)
    assert len(keys) == 1
    plaintext = keys[0]
    assert out.count(plaintext) == 1
    row = ApiKey.objects.get()
    assert row.name == "backend"
    assert row.scopes == ["records:read"]
    assert row.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    secret_part = plaintext.split("_", 2)[2]  # bk_<prefix>_<secret>; "_" may be in it
    stored = " ".join(
        str(getattr(row, f.attname)) for f in ApiKey._meta.concrete_fields
    )
    assert plaintext not in stored
    assert secret_part not in stored


def test_the_printed_key_authenticates_with_its_scopes_only(cli_db, capsys, app_user):
    _, out, _ = run(
        capsys, "apikey", "create", "--name", "reader", "--scopes", "records:read"
    )
    client = client_with(KEY_RE.findall(out)[0])

    assert client.get(RECORDS).status_code == 200
    refused = client.post(
        RECORDS,
        {"email": "x@example.com", "password": "Correct-Horse-42"},
        format="json",
    )
    assert refused.status_code == 403
    assert client.get("/api/v1/collections").status_code == 403


def test_apikey_create_accepts_several_comma_separated_scopes(cli_db, capsys):
    code, _, err = run(
        capsys,
        "apikey",
        "create",
        "--name",
        "both",
        "--scopes",
        "records:write, records:read,",
    )
    assert code == 0, err
    assert ApiKey.objects.get().scopes == ["records:read", "records:write"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--name", "n", "--scopes", "records:admin"],
        ["--name", "n", "--scopes", "records:read,everything"],
        ["--name", "n", "--scopes", "*"],
        ["--name", "n", "--scopes", ""],
        ["--name", "n"],
        ["--scopes", "records:read"],
        ["--name", "   ", "--scopes", "records:read"],
        ["--name", "x" * 101, "--scopes", "records:read"],
    ],
)
def test_apikey_create_refuses_unknown_scopes_and_missing_names(cli_db, capsys, argv):
    code, out, err = run(capsys, "apikey", "create", *argv)
    assert code != 0
    assert "bk_" not in out
    assert err.strip()
    assert not ApiKey.objects.exists()


def test_apikey_list_shows_keys_but_never_their_secret_or_hash(cli_db, capsys):
    _, out, _ = run(
        capsys, "apikey", "create", "--name", "listed", "--scopes", "schema"
    )
    plaintext = KEY_RE.findall(out)[0]
    code, listing, _ = run(capsys, "apikey", "list")
    assert code == 0
    assert "listed" in listing
    assert plaintext not in listing
    assert plaintext.rsplit("_", 1)[1] not in listing
    assert ApiKey.objects.get().key_hash not in listing


def test_apikey_revoke_makes_the_key_useless(cli_db, capsys, app_user):
    _, out, _ = run(
        capsys, "apikey", "create", "--name", "temp", "--scopes", "records:read"
    )
    client = client_with(KEY_RE.findall(out)[0])
    assert client.get(RECORDS).status_code == 200

    code, _, err = run(capsys, "apikey", "revoke", ApiKey.objects.get().pk)

    assert code == 0, err
    response = client.get(RECORDS)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert app_user.email not in response.content.decode()
    _, listing, _ = run(capsys, "apikey", "list")
    assert "revoked" in listing


def test_apikey_revoke_of_an_unknown_id_fails(cli_db, capsys):
    code, _, err = run(capsys, "apikey", "revoke", "nosuchkey000000")
    assert code != 0
    assert err.strip()


def test_apikey_create_with_an_expiry_sets_it(cli_db, capsys):
    code, _, _ = run(
        capsys,
        "apikey",
        "create",
        "--name",
        "e",
        "--scopes",
        "schema",
        "--expires-days",
        "2",
    )
    assert code == 0
    remaining = ApiKey.objects.get().expires_at - timezone.now()
    assert dt.timedelta(days=1, hours=23) < remaining <= dt.timedelta(days=2)


# --- the services ------------------------------------------------------------------------


def test_each_key_is_different(db):
    keys = {apikey_create(name="k", scopes=["schema"])[1] for _ in range(20)}
    assert len(keys) == 20
    assert all(KEY_RE.fullmatch(k) for k in keys)


@pytest.mark.parametrize(
    "scopes", [["records:delete"], [], ["schema", "root"], ["RECORDS:READ"]]
)
def test_the_service_refuses_unknown_or_missing_scopes(db, scopes):
    with pytest.raises(InvalidInput) as refused:
        apikey_create(name="k", scopes=scopes)
    assert refused.value.errors[0].param == "scopes"
    assert not ApiKey.objects.exists()


def test_last_used_at_is_recorded_when_a_key_is_used(db):
    _, plaintext = apikey_create(name="k", scopes=["records:read"])
    row = ApiKey.objects.get()
    assert row.last_used_at is None

    client_with(plaintext).get(RECORDS)

    row.refresh_from_db()
    assert row.last_used_at is not None
    assert timezone.now() - row.last_used_at < dt.timedelta(minutes=1)


def test_last_used_at_is_written_at_most_once_a_minute(db):
    _, plaintext = apikey_create(name="k", scopes=["records:read"])
    apikey_authenticate(plaintext)
    first = ApiKey.objects.get().last_used_at
    apikey_authenticate(plaintext)
    assert ApiKey.objects.get().last_used_at == first

    stale = timezone.now() - dt.timedelta(minutes=5)
    ApiKey.objects.update(last_used_at=stale)
    apikey_authenticate(plaintext)
    assert ApiKey.objects.get().last_used_at > stale


def test_a_refused_key_does_not_touch_last_used_at(db):
    row, plaintext = apikey_create(name="k", scopes=["records:read"])
    apikey_revoke(key_id=row.pk)
    client_with(plaintext).get(RECORDS)
    row.refresh_from_db()
    assert row.last_used_at is None


def test_revoking_twice_keeps_the_first_revocation_time(db):
    row, _ = apikey_create(name="k", scopes=["schema"])
    apikey_revoke(key_id=row.pk)
    first = ApiKey.objects.get().revoked_at
    apikey_revoke(key_id=row.pk)
    assert ApiKey.objects.get().revoked_at == first


def test_a_key_expiring_in_the_future_still_works(db, app_user):
    _, plaintext = apikey_create(
        name="k",
        scopes=["records:read"],
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )
    assert client_with(plaintext).get(RECORDS).status_code == 200


def test_an_expired_key_is_401(db, app_user):
    _, plaintext = apikey_create(
        name="k",
        scopes=["records:read"],
        expires_at=timezone.now() - dt.timedelta(seconds=1),
    )
    response = client_with(plaintext).get(RECORDS)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "invalid_credentials"
    assert app_user.email not in response.content.decode()


FORGERIES = {
    "last character changed": lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"),
    "character appended": lambda k: k + "x",
    "secret cut off": lambda k: k.rsplit("_", 1)[0],
    "secret emptied": lambda k: k.rsplit("_", 1)[0] + "_",
    "prefix dropped": lambda k: "bk_" + k.rsplit("_", 1)[1],
    "upper case": lambda k: k.upper(),
    "bare key marker": lambda k: "bk_",
    "another prefix": lambda k: "bk_" + "0" * 12 + "_" + k.rsplit("_", 1)[1],
    "long prefix": lambda k: "bk_" + "z" * 500,
    "nul in prefix": lambda k: "bk_a\x00b_" + k.rsplit("_", 1)[1],
    "nul prefix": lambda k: "bk_" + "\x00" * 12 + "_x",
}


@pytest.mark.parametrize("mangle", FORGERIES.values(), ids=FORGERIES.keys())
def test_a_forged_or_altered_key_is_401(db, app_user, mangle):
    _, plaintext = apikey_create(name="k", scopes=["records:read"])
    response = client_with(mangle(plaintext)).get(RECORDS)
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["errors"][0]["code"] == "invalid_credentials"
    assert app_user.email not in response.content.decode()
