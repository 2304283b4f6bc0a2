"""An FCM HTTP v1 stand-in for tests, in its own process, with Google's OAuth 2.0 token
endpoint: it knows one service account (its JSON is given on the command line), issues
access tokens for JWT-bearer assertions that account signed, and checks each send as
FCM does before keeping it for the tests to read.

    python -m tests.push.fakes.fcm --port 0 --service-account sa.json
    -> listening on http://127.0.0.1:<port>

The service account's token_uri must be <that url>/token (`Handle.credentials()` gives
the JSON with it set). Endpoints: POST /token, POST /v1/projects/{id}/messages:send.
Control API (JSON): GET /_fake/received, GET /_fake/stats, POST /_fake/reset,
POST /_fake/unregistered {tokens}, POST /_fake/quota {count, retry_after},
POST /_fake/unavailable {count, retry_after}, POST /_fake/hold {on},
POST /_fake/revoke_tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
SCOPES = (
    "https://www.googleapis.com/auth/firebase.messaging",
    "https://www.googleapis.com/auth/cloud-platform",
)
TOKEN_LIFETIME = 3600
MAX_PAYLOAD = 4096  # bytes of notification + data, FCM's limit
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
INVALID_TOKEN = "The registration token is not a valid FCM registration token"
_SEND = re.compile(r"/v1/projects/([^/]+)/messages:send")
_TTL = re.compile(r"^\d+(\.\d+)?s$")
_PRIORITIES = {"HIGH", "NORMAL"}

# The fields FCM's v1 Message accepts (the proto's names; JSON may use camelCase too):
# FCM rejects any other with "Unknown name", so a misspelt override fails here as well.
_FIELDS = {
    "message": {
        "name",
        "data",
        "notification",
        "android",
        "webpush",
        "apns",
        "fcm_options",
        "token",
        "topic",
        "condition",
        "fid",
    },
    "notification": {"title", "body", "image"},
    "android": {
        "collapse_key",
        "priority",
        "ttl",
        "restricted_package_name",
        "data",
        "notification",
        "fcm_options",
        "direct_boot_ok",
        "bandwidth_constrained_ok",
        "restricted_satellite_ok",
    },
    "apns": {"headers", "payload", "fcm_options", "live_activity_token"},
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


_ALLOWED = {
    kind: names | {_camel(name) for name in names} for kind, names in _FIELDS.items()
}


def make_service_account(
    project_id: str = "baas-test",
    token_uri: str = "https://oauth2.googleapis.com/token",
    client_email: str | None = None,
) -> dict:
    """A service-account JSON as the Firebase console gives one, with a fresh RSA key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    email = client_email or f"firebase-adminsdk@{project_id}.iam.gserviceaccount.com"
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": email,
        "client_id": str(secrets.randbelow(10**20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
    }


class Rejected(Exception):
    """A send FCM refuses: HTTP status, Google's error body, extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        fcm_code: str | None = None,
        field_path: str | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        super().__init__(message)
        details: list[dict] = []
        if field_path:
            details.append(
                {
                    "@type": BAD_REQUEST,
                    "fieldViolations": [{"field": field_path, "description": message}],
                }
            )
        if fcm_code:
            details.append({"@type": FCM_ERROR, "errorCode": fcm_code})
        error = {"code": status, "message": message, "status": _STATUS[status]}
        if details:
            error["details"] = details
        self.status = status
        self.body = {"error": error}
        self.headers = headers or []


_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


@dataclass
class Failing:
    """The next `count` sends get this error (429 quota or 503 unavailable)."""

    count: int = 0
    retry_after: int | str | None = None


@dataclass
class State:
    received: list[tuple[str | None, bytes, str, float]] = field(default_factory=list)
    by_token: dict[str, int] = field(default_factory=dict)
    by_token_max: int = 0
    unregistered: set[str] = field(default_factory=set)
    quota: Failing = field(default_factory=Failing)
    unavailable: Failing = field(default_factory=Failing)
    access_tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry
    token_requests: int = 0
    rejected: int = 0


class App:
    """The ASGI application: token endpoint, send endpoint, control API."""

    def __init__(self, account: dict) -> None:
        self.account = account
        self.public_key = serialization.load_pem_private_key(
            account["private_key"].encode(), password=None
        ).public_key()
        self.state = State()
        self.ids = itertools.count(1)
        self.released: asyncio.Event | None = None  # set while not holding

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.released = asyncio.Event()
                    self.released.set()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self.released is not None:
                        self.released.set()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        path, method = scope["path"], scope["method"]
        headers = dict(scope["headers"])
        extra: list[tuple[bytes, bytes]] = []
        match = _SEND.fullmatch(path)
        if match and method == "POST":
            status, answer, extra = await self.send(match[1], headers, body)
        elif path == "/token" and method == "POST":
            status, answer = self.token(headers, body)
        elif path.startswith("/_fake/"):
            status, answer = self.control(method, path[len("/_fake/") :], body)
        else:
            status, answer = 404, {"error": {"code": 404, "status": "NOT_FOUND"}}
        payload = json.dumps(answer).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json; charset=UTF-8"),
                    (b"content-length", str(len(payload)).encode()),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    # --- OAuth 2.0 token endpoint (RFC 7523 JWT bearer grant, as Google runs it) -------

    def token(self, headers: dict, body: bytes) -> tuple[int, dict]:
        """Exchange a service-account-signed JWT for an access token."""
        self.state.token_requests += 1
        form = {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()}
        if form.get("grant_type") != JWT_BEARER:
            return 400, {
                "error": "unsupported_grant_type",
                "error_description": f"Invalid grant_type: {form.get('grant_type', '')}",
            }
        problem = self._check_assertion(form.get("assertion", ""), headers)
        if problem is not None:
            return 400, {"error": problem[0], "error_description": problem[1]}
        access_token = "ya29.fake-" + secrets.token_urlsafe(32)
        self.state.access_tokens[access_token] = time.time() + TOKEN_LIFETIME
        return 200, {
            "access_token": access_token,
            "expires_in": TOKEN_LIFETIME,
            "token_type": "Bearer",
        }

    def _check_assertion(self, assertion: str, headers: dict) -> tuple[str, str] | None:
        """None if the assertion is good, else (error, error_description)."""
        # google-auth always signs for Google's token endpoint, whatever token_uri it
        # posts to; the fake's own URL (RFC 7523's choice) is accepted too.
        host = headers.get(b"host", b"").decode()
        audiences = (GOOGLE_TOKEN_URI, f"http://{host}/token")
        try:
            header = jwt.get_unverified_header(assertion)
            if header.get("alg") != "RS256":
                return "invalid_grant", "Invalid JWT: the algorithm must be RS256."
            claims = jwt.decode(
                assertion,
                self.public_key,
                algorithms=["RS256"],
                options={
                    "require": ["iss", "aud", "iat", "exp"],
                    "verify_aud": False,
                    "verify_iat": False,
                    "verify_exp": False,
                },
            )
        except jwt.InvalidSignatureError:
            return "invalid_grant", "Invalid JWT Signature."
        except jwt.PyJWTError as exc:
            return "invalid_grant", f"Invalid JWT: {exc}"
        if claims["iss"] != self.account["client_email"]:
            return "invalid_grant", "Invalid grant: account not found"
        if claims["aud"] not in audiences:
            return (
                "invalid_grant",
                "Invalid JWT: Failed audience check. The right audience is "
                + GOOGLE_TOKEN_URI,
            )
        now = time.time()
        iat, exp = claims["iat"], claims["exp"]
        if exp - iat > TOKEN_LIFETIME or exp < now or iat > now + 300:
            return (
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                "reasonable timeframe. Check your iat and exp values in the JWT claim.",
            )
        if not set(str(claims.get("scope", "")).split()) & set(SCOPES):
            return "invalid_scope", "Invalid OAuth scope or ID token audience provided."
        return None

    # --- FCM HTTP v1: messages:send ----------------------------------------------------

    async def send(
        self, project_id: str, headers: dict, body: bytes
    ) -> tuple[int, dict, list[tuple[bytes, bytes]]]:
        """Check one send as FCM does; keep it, then (when holding) wait to answer."""
        try:
            token, _, validate_only = self._check_send(project_id, headers, body)
        except Rejected as rejected:
            self.state.rejected += 1
            return rejected.status, rejected.body, rejected.headers
        if validate_only:
            return 200, {"name": f"projects/{project_id}/messages/fake_message_id"}, []
        name = f"projects/{project_id}/messages/0:{time.time_ns()}%{next(self.ids):x}"
        state = self.state
        # the request's bytes, not the parsed message: a tenth of the memory when a
        # benchmark sends 100,000 (GET /_fake/received parses them again)
        state.received.append((token, body, name, time.time()))
        if token is not None:
            count = state.by_token.get(token, 0) + 1
            state.by_token[token] = count
            state.by_token_max = max(state.by_token_max, count)
        if self.released is not None and not self.released.is_set():
            await self.released.wait()
        return 200, {"name": name}, []

    def _check_send(
        self, project_id: str, headers: dict, body: bytes
    ) -> tuple[str | None, dict, bool]:
        """(token, message, validate_only) of an acceptable send, else raise Rejected."""
        authorization = headers.get(b"authorization", b"").decode()
        expiry = self.state.access_tokens.get(authorization.removeprefix("Bearer "))
        if (
            not authorization.startswith("Bearer ")
            or not expiry
            or expiry < time.time()
        ):
            raise Rejected(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 "
                "access token, login cookie or other valid authentication credential. "
                "See https://developers.google.com/identity/sign-in/web/devconsole-project.",
            )
        if project_id != self.account["project_id"]:
            raise Rejected(
                403,
                "Permission 'cloudmessaging.messages.create' denied on resource "
                f"'//cloudresourcemanager.googleapis.com/projects/{project_id}' "
                "(or it may not exist).",
            )
        for failing, status, code, text in (
            (
                self.state.unavailable,
                503,
                "UNAVAILABLE",
                "The service is currently unavailable.",
            ),
            (
                self.state.quota,
                429,
                "QUOTA_EXCEEDED",
                "Quota exceeded for quota metric 'Send requests' and limit 'Send "
                "requests per minute' of service 'fcm.googleapis.com'.",
            ),
        ):
            if failing.count > 0:
                failing.count -= 1
                extra = []
                if failing.retry_after is not None:
                    extra.append((b"retry-after", str(failing.retry_after).encode()))
                raise Rejected(status, text, code, headers=extra)
        try:
            request = json.loads(body)
        except ValueError:
            raise Rejected(400, "Invalid JSON payload received.") from None
        if not isinstance(request, dict) or not isinstance(
            request.get("message"), dict
        ):
            raise Rejected(
                400, "Request contains an invalid argument.", "INVALID_ARGUMENT"
            )
        for key in request:
            if key not in ("message", "validate_only", "validateOnly"):
                raise Rejected(
                    400,
                    f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.',
                    field_path=key,
                )
        message = request["message"]
        _check_fields(message, "message")
        targets = [t for t in ("token", "topic", "condition", "fid") if t in message]
        if not targets:
            raise Rejected(
                400, "Recipient of the message is not set.", "INVALID_ARGUMENT"
            )
        if len(targets) > 1:
            raise Rejected(
                400,
                "Invalid value at 'message' (oneof), oneof field 'target' is already "
                f"set. Cannot set '{targets[1]}'",
                field_path="message",
            )
        data = _get(message, "data", dict, "message")
        _check_strings(data, "message.data")
        notification = _get(message, "notification", dict, "message")
        _check_fields(notification, "notification")
        _check_strings(notification, "message.notification", keys=False)
        android = _get(message, "android", dict, "message")
        if android:
            _check_android(android)
        apns = _get(message, "apns", dict, "message")
        if apns:
            _check_fields(apns, "apns")
            _check_strings(
                _get(apns, "headers", dict, "message.apns"), "message.apns.headers"
            )
            payload = _get(apns, "payload", dict, "message.apns")
            _get(payload, "aps", dict, "message.apns.payload")
        size = sum(len(k.encode()) + len(v.encode()) for k, v in data.items())
        if notification:
            size += len(json.dumps(notification, separators=(",", ":")).encode())
        if size > MAX_PAYLOAD:
            raise Rejected(
                400, "Android message is too big", "INVALID_ARGUMENT", "message"
            )
        token = message.get("token")
        if token is not None:
            if not isinstance(token, str) or " " in token or len(token) < 20:
                raise Rejected(400, INVALID_TOKEN, "INVALID_ARGUMENT", "message.token")
            if token in self.state.unregistered:
                raise Rejected(404, "Requested entity was not found.", "UNREGISTERED")
        validate_only = bool(request.get("validate_only", request.get("validateOnly")))
        return token, message, validate_only

    # --- control API -------------------------------------------------------------------

    def control(self, method: str, name: str, body: bytes) -> tuple[int, object]:
        """The tests' switches and views (see the module docstring)."""
        state = self.state
        if method == "GET" and name == "received":
            return 200, [
                {
                    "token": token,
                    "message": json.loads(body)["message"],
                    "name": name,
                    "at": at,
                }
                for token, body, name, at in state.received
            ]
        if method == "GET" and name == "stats":
            return 200, {
                "received": len(state.received),
                "by_token_max": state.by_token_max,
                "rejected": state.rejected,
                "token_requests": state.token_requests,
            }
        if method != "POST":
            return 404, {"error": f"no {method} /_fake/{name}"}
        args = json.loads(body) if body else {}
        if name == "reset":
            tokens = (
                state.access_tokens
            )  # issued tokens stay valid (the provider keeps one)
            self.state = State(access_tokens=tokens)
            if self.released is not None:
                self.released.set()
        elif name == "unregistered":
            state.unregistered.update(args["tokens"])
        elif name in ("quota", "unavailable"):
            setattr(state, name, Failing(int(args["count"]), args.get("retry_after")))
        elif name == "hold":
            if self.released is not None:
                if args.get("on", True):
                    self.released.clear()
                else:
                    self.released.set()
        elif name == "revoke_tokens":
            state.access_tokens.clear()
        else:
            return 404, {"error": f"no POST /_fake/{name}"}
        return 200, {"ok": True}


def _check_fields(obj: dict, kind: str) -> None:
    """FCM rejects names its proto does not have."""
    allowed = _ALLOWED[kind]
    for key in obj:
        if key not in allowed:
            where = "message" if kind == "message" else f"message.{kind}"
            raise Rejected(
                400,
                f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': "
                "Cannot find field.",
                field_path=where,
            )


def _get(obj: dict, name: str, kind: type, where: str):
    """obj[name] (or its camelCase form) when it has the proto's JSON type; {} if absent."""
    value = obj.get(name, obj.get(_camel(name)))
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise Rejected(
            400,
            f"Invalid value at '{where}.{name}' ({kind.__name__}), {json.dumps(value)}",
            field_path=f"{where}.{name}",
        )
    return value


def _check_strings(obj: dict, where: str, keys: bool = True) -> None:
    """Map<string, string> (data, headers) or string fields: FCM takes no other type."""
    for index, (key, value) in enumerate(obj.items()):
        if not isinstance(value, str):
            at = f"{where}[{index}].value" if keys else f"{where}.{key}"
            raise Rejected(
                400,
                f"Invalid value at '{at}' (TYPE_STRING), {json.dumps(value)}",
                field_path=at,
            )


def _check_android(android: dict) -> None:
    """AndroidConfig: known fields, string data, a Duration ttl, a known priority."""
    _check_fields(android, "android")
    _check_strings(
        _get(android, "data", dict, "message.android"), "message.android.data"
    )
    _get(android, "notification", dict, "message.android")
    ttl = android.get("ttl")
    if ttl is not None and not (isinstance(ttl, str) and _TTL.match(ttl)):
        raise Rejected(
            400,
            "Invalid value at 'message.android.ttl' (type.googleapis.com/"
            f"google.protobuf.Duration), {json.dumps(ttl)}",
            field_path="message.android.ttl",
        )
    priority = android.get("priority")
    # firebase-admin's own encoder sends "high"/"normal", and FCM takes them, so the
    # enum is matched without regard to case.
    if priority is not None and str(priority).upper() not in _PRIORITIES:
        raise Rejected(
            400,
            "Invalid value at 'message.android.priority' (type.googleapis.com/"
            f"google.firebase.fcm.v1.AndroidMessagePriority), {json.dumps(priority)}",
            field_path="message.android.priority",
        )


async def _read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _serve(port: int, account: dict) -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    sock.set_inheritable(True)
    config = Config()
    config.bind = [f"fd://{sock.fileno()}"]
    config.accesslog = None
    config.errorlog = None
    config.backlog = 1024
    config.keep_alive_timeout = 75
    config.keep_alive_max_requests = 1_000_000
    config.h2_max_concurrent_streams = 1000
    config.graceful_timeout = 1
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    await serve(App(account), config)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--service-account", required=True, help="the service-account JSON file"
    )
    args = parser.parse_args(argv)
    account = json.loads(Path(args.service_account).read_text())
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(args.port, account))
    else:
        uvloop.run(_serve(args.port, account))


# --- the test side: run it as a process ---------------------------------------------


class Handle:
    """A running fake: its URL, its service account, helpers for the control API."""

    def __init__(self, url: str, account: dict) -> None:
        import requests

        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        self.token_uri = f"{url}/token"
        self.account = {**account, "token_uri": self.token_uri}
        self.project_id: str = account["project_id"]
        self.http = requests.Session()

    def credentials(self) -> str:
        """The service-account JSON text (token_uri: this fake), for BAAS_FCM_CREDENTIALS."""
        return json.dumps(self.account)

    def foreign_credentials(self) -> str:
        """The same account and token_uri with a key this fake does not know."""
        other = make_service_account(
            self.project_id, self.token_uri, self.account["client_email"]
        )
        return json.dumps(other)

    def _post(self, name: str, body: dict | None = None) -> dict:
        response = self.http.post(f"{self.url}/_fake/{name}", json=body or {})
        response.raise_for_status()
        return response.json()

    def received(self) -> list[dict]:
        """Every accepted send, in order: {token, message, name, at}."""
        return self.http.get(f"{self.url}/_fake/received").json()

    def stats(self) -> dict:
        """{received, by_token_max, rejected, token_requests}: counts only."""
        return self.http.get(f"{self.url}/_fake/stats").json()

    def reset(self) -> None:
        self._post("reset")

    def unregister(self, *tokens: str) -> None:
        """Sends to these tokens get 404 UNREGISTERED."""
        self._post("unregistered", {"tokens": list(tokens)})

    def quota(self, count: int, retry_after: int | str | None = 30) -> None:
        """The next `count` sends get 429 QUOTA_EXCEEDED (with this Retry-After)."""
        self._post("quota", {"count": count, "retry_after": retry_after})

    def unavailable(self, count: int, retry_after: int | str | None = None) -> None:
        """The next `count` sends get 503 UNAVAILABLE (with this Retry-After)."""
        self._post("unavailable", {"count": count, "retry_after": retry_after})

    def hold(self, on: bool = True) -> None:
        """Sends wait (already counted as received) until hold(False)."""
        self._post("hold", {"on": on})

    def revoke_tokens(self) -> None:
        """Access tokens issued so far stop working (401)."""
        self._post("revoke_tokens")


@contextlib.contextmanager
def running(
    port: int = 0, account: dict | None = None, project_id: str = "baas-test"
) -> Iterator[Handle]:
    """Start the fake (a fresh service account unless one is given); yield its Handle."""
    import tempfile

    account = account or make_service_account(project_id)
    root = Path(__file__).resolve().parents[3]
    with tempfile.TemporaryDirectory(prefix="fake-fcm-") as tmp:
        account_file = Path(tmp) / "service-account.json"
        account_file.write_text(json.dumps(account))
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.push.fakes.fcm",
                "--port",
                str(port),
                "--service-account",
                str(account_file),
            ],
            cwd=root,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            line = process.stdout.readline().strip()
            if not line.startswith("listening on "):
                raise RuntimeError(f"the FCM fake did not start: {line!r}")
            handle = Handle(line.removeprefix("listening on "), account)
            yield handle
            handle.http.close()
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            process.stdout.close()


if __name__ == "__main__":
    main()
