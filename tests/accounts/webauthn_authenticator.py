"""A software WebAuthn authenticator (a passkey) for tests: what a phone's platform
authenticator and the OS WebAuthn API together hand to the app, built by hand.

It keeps an EC P-256 key pair, answers the server's creation options with a credential
(authenticatorData with rpIdHash, flags, signCount and attested credential data; a CBOR
attestationObject of fmt "none"; clientDataJSON) and its request options with an ES256
assertion. Each field a test wants to get wrong can be overridden per call.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fido2 import cbor

FLAG_UP = 0x01  # user present
FLAG_UV = 0x04  # user verified (biometrics or PIN)
FLAG_AT = 0x40  # attested credential data included
AAGUID = bytes(16)  # "none" attestation: no model is claimed
COSE_ES256 = -7


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftwareAuthenticator:
    """One credential on one device, bound to the RP id it was created for."""

    def __init__(self, origin: str = "http://testserver") -> None:
        self.origin = origin
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.sign_count = 0
        self.rp_id: str | None = None
        self.user_handle: bytes | None = None

    # --- registration (navigator.credentials.create) -----------------------------
    def create(
        self,
        creation_options: dict,
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        challenge: str | None = None,
        user_verified: bool = True,
        resident_key: bool = False,
    ) -> dict:
        """The RegistrationResponseJSON for allauth's `creation_options`."""
        options = creation_options["publicKey"]
        self.rp_id = options["rp"]["id"]
        self.user_handle = b64url_decode(options["user"]["id"])
        client_data = self._client_data(
            "webauthn.create", challenge or options["challenge"], origin
        )
        auth_data = self._authenticator_data(
            rp_id or self.rp_id, user_verified, attested=True
        )
        attestation_object = cbor.encode(
            {"fmt": "none", "attStmt": {}, "authData": auth_data}
        )
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation_object),
                "transports": ["internal"],
            },
            "clientExtensionResults": {"credProps": {"rk": resident_key}},
        }

    # --- authentication (navigator.credentials.get) ------------------------------
    def get(
        self,
        request_options: dict,
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        challenge: str | None = None,
        user_verified: bool = True,
        signing_key: ec.EllipticCurvePrivateKey | None = None,
        user_handle: bytes | None = None,
    ) -> dict:
        """The AuthenticationResponseJSON (an ES256 assertion) for `request_options`."""
        options = request_options["publicKey"]
        client_data = self._client_data(
            "webauthn.get", challenge or options["challenge"], origin
        )
        auth_data = self._authenticator_data(
            rp_id or options.get("rpId") or self.rp_id, user_verified, attested=False
        )
        signature = (signing_key or self.key).sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        handle = user_handle if user_handle is not None else self.user_handle
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(handle or b""),
            },
            "clientExtensionResults": {},
        }

    # --- the parts ---------------------------------------------------------------
    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps(
            {
                "type": kind,
                "challenge": challenge,
                "origin": origin or self.origin,
                "crossOrigin": False,
            },
            separators=(",", ":"),
        ).encode()

    def _authenticator_data(
        self, rp_id: str, user_verified: bool, *, attested: bool
    ) -> bytes:
        flags = FLAG_UP | (FLAG_UV if user_verified else 0)
        if attested:
            flags |= FLAG_AT
        else:
            self.sign_count += 1
        data = (
            hashlib.sha256(rp_id.encode()).digest()
            + bytes([flags])
            + struct.pack(">I", self.sign_count)
        )
        if attested:
            data += (
                AAGUID
                + struct.pack(">H", len(self.credential_id))
                + self.credential_id
                + cbor.encode(self._cose_public_key())
            )
        return data

    def _cose_public_key(self) -> dict:
        numbers = self.key.public_key().public_numbers()
        return {
            1: 2,  # kty: EC2
            3: COSE_ES256,  # alg
            -1: 1,  # crv: P-256
            -2: numbers.x.to_bytes(32, "big"),
            -3: numbers.y.to_bytes(32, "big"),
        }
