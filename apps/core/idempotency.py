"""Idempotency-Key for mutating API requests (API.md, conventions).

A POST, PUT, PATCH or DELETE under /api/ with an `Idempotency-Key` header runs in one
transaction together with the insert of its stored response: the effect and the record
commit together or not at all, so a crash in between leaves neither behind.

- A retry that finds the stored response (same caller, same key, within
  BAAS_IDEMPOTENCY_TTL) gets it replayed, with `Idempotent-Replayed: true`, when it is the
  same request (method, path with query string, body); any other request under the same
  key is 409 `idempotency_key_reused`.
- A retry that arrives while the first is in flight: on PostgreSQL a transaction-scoped
  advisory lock on the key tells at once, 409 `idempotency_in_progress` (`Retry-After: 1`);
  on SQLite every write transaction is `BEGIN IMMEDIATE`, so the retry waits for the first
  to commit (busy timeout) and replays its response. Both hold across processes: the lock
  and the rows are in the shared database. The unique index on the key is the backstop for
  any other database (the loser's effect is rolled back and it gets the 409).
- A response >= 500 rolls the whole transaction back and is not stored. 408, 409, 425 and
  429 ("try again", no effect) and streaming responses are not stored: a retry runs again.

Scope: a key belongs to one caller, resolved as the API resolves it (BearerAuthentication):
a user id or an API key id, so a retry with a refreshed access token still matches.
Anonymous callers share a scope narrowed by allauth's `X-Session-Token` (a pending login
flow) and any non-Bearer Authorization header; credentials that fail to authenticate are a
scope of their own (the raw header), so they never match anyone's stored response.

At rest: from SECRET_KEY and (scope, key), HKDF derives the row's lookup id, a MAC key for
the request fingerprint (a plain hash of a login body could be brute-forced for the
password) and an AES-GCM key for the response (login and refresh responses carry tokens).
The key itself is never stored, so the table alone, or with SECRET_KEY, reveals nothing.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from hashlib import sha256

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed

from apps.core.errors import envelope
from apps.core.exceptions import ErrorItem
from apps.core.models import IdempotencyRecord
from apps.core.renderers import dumps

logger = logging.getLogger("baas.idempotency")

HEADER = "Idempotency-Key"
META_KEY = "HTTP_IDEMPOTENCY_KEY"
REPLAYED = "Idempotent-Replayed"
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_KEY_LENGTH = 255
NOT_STORED = frozenset({408, 409, 425, 429})
STORED_HEADERS = (
    "Content-Type",
    "Location",
    "ETag",
    "Last-Modified",
    "Content-Disposition",
    "Content-Language",
    "Allow",
    "WWW-Authenticate",
    "Cache-Control",
)
NONCE_SIZE = 12
INFO = b"baas.idempotency.v1"


def is_valid_key(key: str) -> bool:
    """1 to 255 printable ASCII characters (space included)."""
    return 1 <= len(key) <= MAX_KEY_LENGTH and all(" " <= c <= "~" for c in key)


def actor_scope(request: HttpRequest) -> str:
    """Who is asking, as the API will see it (module docstring: Scope)."""
    from apps.accounts.apikeys import KeyPrincipal
    from apps.accounts.authentication import BearerAuthentication

    authorization = request.META.get("HTTP_AUTHORIZATION", "")
    try:
        result = BearerAuthentication().authenticate(request)
    except AuthenticationFailed:
        return "invalid:" + authorization
    if result is None:
        session = request.META.get("HTTP_X_SESSION_TOKEN", "")
        return "anonymous:" + orjson.dumps([authorization, session]).decode()
    principal = result[0]
    if isinstance(principal, KeyPrincipal):
        return f"key:{principal.key_id}"
    return f"user:{principal.pk}"


@dataclass(frozen=True)
class DerivedKeys:
    lookup: str  # hex; the row's unique key
    lock_id: int  # signed 64 bits, for pg_try_advisory_xact_lock
    mac: bytes  # for the request fingerprint
    cipher: bytes  # AES-256-GCM key for the stored response


def derive_keys(scope: str, key: str) -> DerivedKeys:
    material = HKDF(
        algorithm=hashes.SHA256(),
        length=96,
        salt=sha256(settings.SECRET_KEY.encode()).digest(),
        info=INFO,
    ).derive(orjson.dumps([scope, key]))
    lookup = material[:32]
    return DerivedKeys(
        lookup=lookup.hex(),
        lock_id=int.from_bytes(lookup[:8], "big", signed=True),
        mac=material[32:64],
        cipher=material[64:],
    )


def request_fingerprint(request: HttpRequest, mac: bytes) -> str:
    """A keyed hash of method, path, query string and body.

    Multipart bodies are compared with their boundary blanked: clients pick a new random
    boundary for every attempt, which is not another body.
    """
    body = request.body
    boundary = (
        request.content_params.get("boundary") if request.content_params else None
    )
    if request.content_type == "multipart/form-data" and boundary:
        body = body.replace(b"--" + boundary.encode("latin-1", "replace"), b"--\0")
    head = "\0".join(
        [request.method or "", request.path, request.META.get("QUERY_STRING", "")]
    ).encode("utf-8", "backslashreplace")
    return hmac.new(mac, head + b"\0" + body, sha256).hexdigest()


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> HttpResponse:
    response = HttpResponse(
        dumps(envelope(status, [ErrorItem(code, message, HEADER)])),
        status=status,
        content_type="application/json",
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _in_progress() -> HttpResponse:
    return _error(
        409,
        "idempotency_in_progress",
        "A request with this Idempotency-Key is still being processed; retry shortly.",
        {"Retry-After": "1"},
    )


def _seal(response: HttpResponse, keys: DerivedKeys) -> bytes:
    head = {
        "status": response.status_code,
        "headers": [
            [name, response[name]] for name in STORED_HEADERS if name in response
        ],
    }
    plaintext = orjson.dumps(head) + b"\n" + response.content  # orjson never emits \n
    nonce = os.urandom(NONCE_SIZE)
    return nonce + AESGCM(keys.cipher).encrypt(nonce, plaintext, keys.lookup.encode())


def _replay(stored: IdempotencyRecord, keys: DerivedKeys) -> HttpResponse:
    sealed = bytes(stored.response)
    plaintext = AESGCM(keys.cipher).decrypt(
        sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], keys.lookup.encode()
    )
    head, _, body = plaintext.partition(b"\n")
    meta = orjson.loads(head)
    response = HttpResponse(body, status=meta["status"])
    del response["Content-Type"]
    for name, value in meta["headers"]:
        response[name] = value
    response[REPLAYED] = "true"
    return response


def _runs_sqlite_ddl(request: HttpRequest) -> bool:
    """Schema views change tables; on SQLite that needs foreign key checks off, which
    only works outside a transaction (apps.collections.dynamic.ddl.schema_transaction)."""
    if connection.vendor != "sqlite":
        return False
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return False
    view = getattr(match.func, "view_class", match.func)
    return getattr(view, "required_scope", None) == "schema"


def _try_lock(keys: DerivedKeys) -> bool:
    """False when another transaction holds this key (PostgreSQL). SQLite's IMMEDIATE
    transactions already hold the database's write lock."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [keys.lock_id])
        return bool(cursor.fetchone()[0])


class IdempotencyMiddleware:
    """Store and replay responses to mutating /api/ requests with an Idempotency-Key."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if (
            request.method not in MUTATING
            or META_KEY not in request.META
            or not request.path_info.startswith("/api/")
        ):
            return self.get_response(request)
        key = request.META[META_KEY]
        if not is_valid_key(key):
            return _error(
                400,
                "invalid",
                f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
            )
        keys = derive_keys(actor_scope(request), key)
        fingerprint = request_fingerprint(request, keys.mac)
        fk_checks_off = (
            connection.constraint_checks_disabled()
            if _runs_sqlite_ddl(request)
            else contextlib.nullcontext()
        )
        with fk_checks_off, transaction.atomic():
            return self._run_once(request, keys, fingerprint)

    def _run_once(self, request, keys: DerivedKeys, fingerprint: str):
        if not _try_lock(keys):
            return _in_progress()
        stored = IdempotencyRecord.objects.filter(key_hash=keys.lookup).first()
        cutoff = timezone.now() - timedelta(seconds=settings.BAAS_IDEMPOTENCY_TTL)
        if stored is not None and stored.created < cutoff:
            IdempotencyRecord.objects.filter(pk=stored.pk).delete()  # as if never seen
            stored = None
        if stored is not None:
            if not hmac.compare_digest(stored.request_hash, fingerprint):
                return _error(
                    409,
                    "idempotency_key_reused",
                    f"This {HEADER} was used for another request.",
                )
            return _replay(stored, keys)

        response = self.get_response(request)
        if response.status_code >= 500 or connection.needs_rollback:
            transaction.set_rollback(True)
            return response
        if getattr(response, "streaming", False) or response.status_code in NOT_STORED:
            return response
        try:
            with transaction.atomic():
                IdempotencyRecord.objects.create(
                    key_hash=keys.lookup,
                    request_hash=fingerprint,
                    status=response.status_code,
                    response=_seal(response, keys),
                    created=timezone.now(),
                )
        except IntegrityError:
            # Only without the advisory lock: another process stored this key first.
            logger.warning("idempotency key stored concurrently; effect rolled back")
            transaction.set_rollback(True)
            return _in_progress()
        return response
