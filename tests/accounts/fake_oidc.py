"""A local OpenID Connect provider for tests: a real HTTP server on a free localhost port
that speaks the protocol allauth speaks to Google, Apple or any OIDC server.

Discovery (/.well-known/openid-configuration), JWKS (/jwks), Google-style X.509 certs
(/certs), the authorization endpoint (/authorize: signs in `next_user` at once, as a user
clicking "Allow" would), the token endpoint (/token: code exchange with client
authentication and PKCE) and userinfo (/userinfo). id_tokens are RS256-signed.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def self_signed_pem(key: rsa.RSAPrivateKey) -> str:
    """The public key as an X.509 certificate: the format of Google's v1 certs URL."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-oidc")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class Identity:
    sub: str
    email: str | None
    email_verified: bool | str = True
    name: str = "Test Person"


@dataclass
class Grant:
    identity: Identity
    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str | None
    access_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))


class FakeOIDCProvider:
    """Start with `with FakeOIDCProvider(clients={"id": "secret"}) as idp:`."""

    def __init__(self, clients: dict[str, str], issuer_override: str | None = None):
        self.clients = dict(clients)
        self.key = new_rsa_key()
        self.kid = secrets.token_hex(8)
        self.issuer_override = issuer_override
        self.next_user: Identity | None = None
        self.grants: dict[str, Grant] = {}
        self.tokens: dict[str, Grant] = {}
        self.token_requests: list[dict] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def issuer(self) -> str:
        return self.issuer_override or self.url

    def __enter__(self) -> "FakeOIDCProvider":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- tokens -----------------------------------------------------------------------
    def claims(self, identity: Identity, client_id: str, **overrides) -> dict:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": identity.sub,
            "aud": client_id,
            "iat": now,
            "exp": now + 600,
            "jti": secrets.token_hex(8),
            "name": identity.name,
        }
        if identity.email is not None:
            claims["email"] = identity.email
            claims["email_verified"] = identity.email_verified
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def id_token(
        self,
        identity: Identity,
        client_id: str,
        *,
        key: rsa.RSAPrivateKey | None = None,
        kid: str | None = None,
        alg: str = "RS256",
        **overrides,
    ) -> str:
        """An id_token as the provider would sign it; `key`, `kid`, `alg` and claim
        overrides forge the variants an attacker could present."""
        claims = self.claims(identity, client_id, **overrides)
        headers = {} if kid == "" else {"kid": kid or self.kid}  # "": no kid at all
        if alg == "none":
            return jwt.encode(claims, None, algorithm="none", headers=headers)
        return jwt.encode(claims, key or self.key, algorithm=alg, headers=headers)

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "userinfo_endpoint": f"{self.url}/userinfo",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "client_secret_basic",
            ],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "email", "profile"],
        }

    def jwks(self) -> dict:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid=self.kid, use="sig", alg="RS256")
        return {"keys": [jwk]}

    # --- HTTP -----------------------------------------------------------------------------
    def _handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _json(self, status: int, body: dict, headers: dict | None = None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    return self._json(200, provider.discovery())
                if url.path == "/jwks":
                    return self._json(200, provider.jwks())
                if url.path == "/certs":
                    return self._json(
                        200, {provider.kid: self_signed_pem(provider.key)}
                    )
                if url.path == "/authorize":
                    return self._authorize(query)
                if url.path == "/userinfo":
                    return self._userinfo()
                return self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                if urlsplit(self.path).path != "/token":
                    return self._json(404, {"error": "not_found"})
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                form = {k: v[0] for k, v in parse_qs(body).items()}
                return self._token(form)

            def _authorize(self, query: dict) -> None:
                client_id = query.get("client_id", "")
                redirect_uri = query.get("redirect_uri", "")
                if client_id not in provider.clients or not redirect_uri:
                    return self._json(400, {"error": "invalid_request"})
                if query.get("response_type") != "code" or "openid" not in query.get(
                    "scope", ""
                ).split(" "):
                    return self._json(400, {"error": "invalid_request"})
                if provider.next_user is None:
                    params = {"error": "access_denied", "state": query.get("state")}
                else:
                    code = secrets.token_urlsafe(16)
                    provider.grants[code] = Grant(
                        identity=provider.next_user,
                        client_id=client_id,
                        redirect_uri=redirect_uri,
                        nonce=query.get("nonce"),
                        code_challenge=query.get("code_challenge"),
                    )
                    params = {"code": code, "state": query.get("state")}
                sep = "&" if "?" in redirect_uri else "?"
                location = redirect_uri + sep + urlencode(params)
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _client(self, form: dict) -> str | None:
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    raw = base64.b64decode(auth[6:]).decode()
                    client_id, _, secret = raw.partition(":")
                else:
                    client_id = form.get("client_id", "")
                    secret = form.get("client_secret", "")
                if provider.clients.get(client_id) != secret or not secret:
                    return None
                return client_id

            def _token(self, form: dict) -> None:
                provider.token_requests.append(form)
                client_id = self._client(form)
                if client_id is None:
                    return self._json(401, {"error": "invalid_client"})
                grant = provider.grants.pop(form.get("code", ""), None)
                if (
                    form.get("grant_type") != "authorization_code"
                    or grant is None
                    or grant.client_id != client_id
                    or grant.redirect_uri != form.get("redirect_uri")
                ):
                    return self._json(400, {"error": "invalid_grant"})
                if grant.code_challenge:
                    verifier = form.get("code_verifier", "").encode()
                    digest = hashlib.sha256(verifier).digest()
                    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
                    if challenge != grant.code_challenge:
                        return self._json(400, {"error": "invalid_grant"})
                provider.tokens[grant.access_token] = grant
                id_token = provider.id_token(
                    grant.identity, client_id, nonce=grant.nonce
                )
                return self._json(
                    200,
                    {
                        "access_token": grant.access_token,
                        "token_type": "Bearer",
                        "expires_in": 600,
                        "id_token": id_token,
                    },
                )

            def _userinfo(self) -> None:
                auth = self.headers.get("Authorization", "")
                grant = provider.tokens.get(auth.removeprefix("Bearer "))
                if not auth.startswith("Bearer ") or grant is None:
                    return self._json(
                        401, {"error": "invalid_token"}, {"WWW-Authenticate": "Bearer"}
                    )
                claims = provider.claims(grant.identity, grant.client_id)
                info = {
                    k: claims[k]
                    for k in ("sub", "email", "email_verified", "name")
                    if k in claims
                }
                return self._json(200, info)

        return Handler
