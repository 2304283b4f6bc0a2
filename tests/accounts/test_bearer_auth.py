"""`Authorization: Bearer`: every bad credential is a 401 in the envelope with WWW-Authenticate."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from rest_framework.test import APIClient

from apps.accounts.models import User
from tests.conftest import ADMIN_PASSWORD, USER_PASSWORD, client_with, login

RECORDS = "/api/v1/collections/users/records"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parts(token: str) -> tuple[dict, dict, str]:
    header, payload, signature = token.split(".")
    return json.loads(unb64(header)), json.loads(unb64(payload)), signature


def assemble(header: dict, payload: dict, signature: str = "") -> str:
    return ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), signature]
    )


def assert_401(response, *secrets: str) -> None:
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    body = response.json()
    assert body["status"] == 401
    assert body["errors"][0]["code"] in ("invalid_credentials", "not_authenticated")
    for secret in secrets:
        assert secret not in response.content.decode()


@pytest.fixture
def admin_token(superuser) -> str:
    return login(superuser.email, ADMIN_PASSWORD)


@pytest.fixture
def user_token(app_user) -> str:
    return login(app_user.email, USER_PASSWORD)


def test_a_valid_superuser_token_opens_records(db, admin_token, superuser):
    response = client_with(admin_token).get(RECORDS)
    assert response.status_code == 200
    assert superuser.email in response.content.decode()


def test_the_bearer_keyword_is_case_insensitive(db, admin_token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"bearer {admin_token}")
    assert client.get(RECORDS).status_code == 200


def test_no_credentials_is_401_with_www_authenticate(db, superuser):
    # (The users list itself is open to guests under its rules, and empty for them.)
    assert_401(APIClient().get("/api/v1/collections"), superuser.email)
    assert APIClient().get(RECORDS).json()["items"] == []


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Bearer  token with spaces",
        "Bearer garbage",
        "Bearer bk_",
        "Bearer bk_garbage",
        "Bearer eyJhbGciOiJSUzI1NiJ9",
        "Bearer eyJ.eyJ.sig",
        "Bearer ...",
        "Bearer " + "A" * 20_000,
        "Bearer \u00e9\u00e8",
        "Bearer tok\x00en",
        "Basic YWRtaW5AZXhhbXBsZS5jb206QWRtaW5QYXNzMTIzIQ==",
        "Token abc",
        "Bearerabc",
        "",
    ],
)
def test_a_malformed_or_garbage_authorization_header_is_401(db, superuser, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_401(client.get(RECORDS), superuser.email)


def test_a_header_with_non_latin1_bytes_is_401(db, superuser):
    response = APIClient().get(
        RECORDS, HTTP_AUTHORIZATION="Bearer \u4e2d\u6587".encode().decode("latin-1")
    )
    assert_401(response, superuser.email)


def test_a_jwt_with_alg_none_is_401(db, admin_token, superuser):
    header, payload, _ = parts(admin_token)
    for alg in ("none", "None", "NONE"):
        forged = assemble({**header, "alg": alg}, payload, "")
        assert_401(client_with(forged).get(RECORDS), superuser.email)


def test_a_jwt_signed_with_hs256_and_the_public_key_is_401(db, admin_token, superuser):
    from allauth.headless.tokens.strategies.jwt.internal import _get_jwt_config

    public_pem = _get_jwt_config().verifying_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _, payload, _ = parts(admin_token)
    signature = __import__("hmac").new(public_pem, digestmod="sha256")
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = (
        f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    )
    signature.update(signing_input.encode())
    forged = f"{signing_input}.{b64(signature.digest())}"
    assert_401(client_with(forged).get(RECORDS), superuser.email)


def test_a_jwt_with_an_edited_payload_is_401(db, user_token, superuser, app_user):
    """An app user rewrites `sub` to the superuser's id and keeps the signature."""
    header, payload, signature = parts(user_token)
    forged = assemble(header, {**payload, "sub": superuser.pk}, signature)
    assert_401(client_with(forged).get(RECORDS), superuser.email, app_user.email)
    longer = assemble(header, {**payload, "exp": payload["exp"] + 86400}, signature)
    assert_401(client_with(longer).get(RECORDS), superuser.email)


def test_a_jwt_with_a_flipped_signature_byte_is_401(db, admin_token, superuser):
    head, body, signature = admin_token.split(".")
    raw = bytearray(unb64(signature))
    raw[0] ^= 1
    assert_401(
        client_with(f"{head}.{body}.{b64(bytes(raw))}").get(RECORDS), superuser.email
    )
    assert_401(client_with(f"{head}.{body}.").get(RECORDS), superuser.email)


def test_a_jwt_signed_by_another_key_is_401(db, admin_token, superuser):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    header, payload, _ = parts(admin_token)
    forged = jwt.encode(
        payload, other, algorithm="RS256", headers={"kid": header.get("kid")}
    )
    assert_401(client_with(forged).get(RECORDS), superuser.email)


def test_an_expired_access_token_is_401(db, admin_token, superuser):
    from allauth.headless.tokens.strategies.jwt.internal import create_token

    _, payload, _ = parts(admin_token)
    expired, _ = create_token(
        "access", sub=payload["sub"], sid=payload["sid"], expires_in=-1
    )
    assert_401(client_with(expired).get(RECORDS), superuser.email)


def test_a_correctly_signed_token_without_the_required_claims_is_401(
    db, admin_token, superuser
):
    from allauth.headless.tokens.strategies.jwt.internal import _get_jwt_config

    config = _get_jwt_config()
    _, payload, _ = parts(admin_token)
    for drop in ("sub", "jti", "sid", "token_use"):
        claims = {k: v for k, v in payload.items() if k != drop}
        token = jwt.encode(claims, config.signing_key, algorithm=config.algorithm)
        assert_401(client_with(token).get(RECORDS), superuser.email)
    for bad_sub in (None, 1, ["x"], "", "nosuchuser00000"):
        token = jwt.encode(
            {**payload, "sub": bad_sub}, config.signing_key, algorithm=config.algorithm
        )
        assert_401(client_with(token).get(RECORDS), superuser.email)


def test_a_refresh_token_is_not_an_access_token(db, superuser):
    response = APIClient().post(
        "/api/v1/auth/login",
        {"email": superuser.email, "password": ADMIN_PASSWORD},
        format="json",
    )
    refresh = response.json()["meta"]["refresh_token"]
    assert_401(client_with(refresh).get(RECORDS), superuser.email)


def test_the_token_of_a_deleted_user_is_401(db, admin_token, superuser):
    email = superuser.email
    User.objects.filter(pk=superuser.pk).delete()
    assert_401(client_with(admin_token).get(RECORDS), email)


def test_the_token_of_a_deactivated_user_is_401(db, admin_token, superuser, app_user):
    User.objects.filter(pk=superuser.pk).update(is_active=False)
    assert_401(client_with(admin_token).get(RECORDS), superuser.email, app_user.email)


def test_an_app_user_token_is_authenticated_but_not_allowed(db, user_token):
    response = client_with(user_token).get("/api/v1/collections")
    assert response.status_code == 403
    assert "WWW-Authenticate" not in response


def test_a_console_session_cookie_does_not_authenticate_the_api(db, superuser):
    client = APIClient()
    client.force_login(superuser)
    assert_401(client.get("/api/v1/collections"), superuser.email)
    assert client.get(RECORDS).json()["items"] == []  # a guest's view
    assert_401(
        client.post(
            RECORDS,
            {"email": "x@example.com", "password": "Correct-Horse-42"},
            format="json",
        )
    )
    assert not User.objects.filter(email="x@example.com").exists()


def test_a_token_in_the_query_string_is_ignored(db, admin_token, superuser):
    tokens = {"token": admin_token, "access_token": admin_token}
    assert_401(APIClient().get("/api/v1/collections", tokens), superuser.email)
    assert APIClient().get(RECORDS, tokens).json()["items"] == []


@pytest.mark.parametrize(
    "path", ["/api/v1/collections", "/api/v1/schema", "/api/v1/collections/users"]
)
def test_schema_endpoints_also_answer_401_with_www_authenticate(db, path):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer garbage")
    assert_401(client.get(path))
    assert_401(APIClient().get(path))


def forge(claims: dict) -> str:
    """An access token with these claims, signed with the server's real key."""
    from allauth.headless.tokens.strategies.jwt.internal import _get_jwt_config

    config = _get_jwt_config()
    return jwt.encode(claims, config.signing_key, algorithm=config.algorithm)


def test_a_token_naming_one_account_with_the_session_of_another_is_401(
    db, user_token, superuser, app_user
):
    """Defence in depth (it takes the signing key): the session must be the account's."""
    _, claims, _ = parts(user_token)
    forged = forge({**claims, "sub": superuser.pk})  # app_user's live session
    for path in (RECORDS, "/api/v1/collections"):
        assert_401(client_with(forged).get(path), superuser.email, app_user.email)
    # allauth's own endpoints do not take it for either account either.
    session = client_with(forged).get("/api/v1/auth/session")
    assert session.status_code == 401, session.content
    assert superuser.email not in session.content.decode()
    assert app_user.email not in session.content.decode()
    assert client_with(user_token).get(RECORDS).status_code == 200  # the real one works


def test_a_correctly_signed_token_without_an_expiry_is_401(db, admin_token, superuser):
    _, claims, _ = parts(admin_token)
    forged = forge({k: v for k, v in claims.items() if k != "exp"})
    assert_401(client_with(forged).get(RECORDS), superuser.email)
    session = client_with(forged).get("/api/v1/auth/session")
    assert session.status_code == 401, session.content
    assert superuser.email not in session.content.decode()
