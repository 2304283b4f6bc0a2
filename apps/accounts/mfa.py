"""Second factors: superusers' privileges need one (BAAS_REQUIRE_SUPERUSER_MFA), and
passkeys (WebAuthn) are bound to a configurable relying party and set of origins.

allauth.mfa does the flows (TOTP, recovery codes, WebAuthn); this module only decides
where passkeys belong (the RP id: the app's associated domain, not necessarily the API
host) and which client origins are genuine (`https://<rp id>`, plus native apps' origins
such as Android's `android:apk-key-hash:...`, which allauth has no setting for).
"""

from __future__ import annotations

from contextlib import contextmanager
from urllib.parse import urlparse

from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from django.conf import settings
from fido2.rpid import verify_rp_id
from fido2.server import Fido2Server
from fido2.webauthn import PublicKeyCredentialRpEntity

SECOND_FACTORS = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)
_CACHE_ATTR = "_baas_has_second_factor"


# --- superusers ----------------------------------------------------------------------
def has_second_factor(user) -> bool:
    """An authenticator app or a passkey (recovery codes alone are no second factor)."""
    return Authenticator.objects.filter(
        user_id=user.pk, type__in=SECOND_FACTORS
    ).exists()


def superuser_privileged(user) -> bool:
    """True for an active superuser whose privileges count: with
    BAAS_REQUIRE_SUPERUSER_MFA on, only once they have a second factor (login then asks
    for it). Only superusers pay the query, once per user object (one request)."""
    if not getattr(user, "is_superuser", False) or not getattr(
        user, "is_active", False
    ):
        return False
    if not settings.BAAS_REQUIRE_SUPERUSER_MFA:
        return True
    known = user.__dict__.get(_CACHE_ATTR)
    if known is None:
        known = user.__dict__[_CACHE_ATTR] = has_second_factor(user)
    return known


def lacks_required_mfa(user) -> bool:
    """A superuser held back only by the missing second factor."""
    return (
        getattr(user, "is_superuser", False)
        and getattr(user, "is_active", False)
        and not superuser_privileged(user)
    )


MFA_REQUIRED_MESSAGE = (
    "Superusers must set up two-factor authentication (an authenticator app or a "
    "passkey, /api/v1/account/authenticators) and sign in with it to use this."
)


# --- passkeys ------------------------------------------------------------------------
class MFAAdapter(DefaultMFAAdapter):
    def get_public_key_credential_rp_entity(self) -> dict[str, str]:
        """BAAS_WEBAUTHN_RP_ID, else the host the request came to (allauth's default)."""
        entity = super().get_public_key_credential_rp_entity()
        if settings.BAAS_WEBAUTHN_RP_ID:
            entity["id"] = settings.BAAS_WEBAUTHN_RP_ID
        if settings.BAAS_WEBAUTHN_RP_NAME:
            entity["name"] = settings.BAAS_WEBAUTHN_RP_NAME
        return entity


def origin_allowed(origin: str, rp_id: str) -> bool:
    """A clientDataJSON origin is genuine when listed in BAAS_WEBAUTHN_ORIGINS, or
    https at the RP id or a subdomain (http://localhost too), or, outside production
    (MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN), plain http at the RP id."""
    if not isinstance(origin, str):
        return False
    if origin in settings.BAAS_WEBAUTHN_ORIGINS or verify_rp_id(rp_id, origin):
        return True
    if settings.MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN:
        url = urlparse(origin)
        return url.scheme == "http" and url.hostname == rp_id
    return False


class WebAuthnServer(Fido2Server):
    """A credential that cannot even be parsed (truncated CBOR, wrong types) is refused
    like a wrong one: allauth turns ValueError into 400 `incorrect_code`."""

    def register_complete(self, state, response):
        with _malformed_is_invalid():
            return super().register_complete(state, response)

    def authenticate_complete(self, state, credentials, response):
        with _malformed_is_invalid():
            return super().authenticate_complete(state, credentials, response)


@contextmanager
def _malformed_is_invalid():
    try:
        yield
    except ValueError:
        raise
    except Exception as exc:  # parsing attacker-supplied binary structures
        raise ValueError("Malformed credential.") from exc


def webauthn_server() -> Fido2Server:
    """allauth's `get_server`, with `origin_allowed` instead of its all-or-nothing
    MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN (which accepts any origin at all)."""
    from allauth.mfa.adapter import get_adapter

    rp = PublicKeyCredentialRpEntity(
        **get_adapter().get_public_key_credential_rp_entity()
    )
    rp_id = rp.id or ""
    return WebAuthnServer(
        rp, verify_origin=lambda origin: origin_allowed(origin, rp_id)
    )


def _refusing_malformed(parse):
    """allauth's credential parsers catch TypeError (and ValueError) only; a truncated
    attestation object raises IndexError deep in CBOR decoding: a 400, not a 500."""

    def wrapper(response):
        from allauth.mfa.adapter import get_adapter

        try:
            with _malformed_is_invalid():
                return parse(response)
        except ValueError:
            raise get_adapter().validation_error("incorrect_code") from None

    return wrapper


def _add_passkey_input():
    """allauth's "add a passkey" input, refusing a credential that is not an object.

    allauth verifies the credential only when it is truthy: `false` or `0` passed, an
    authenticator with that as its credential was stored, and every later read of the
    account's authenticators answered 500 (found by schemathesis).
    """
    from allauth.headless.mfa.inputs import AddWebAuthnInput
    from allauth.mfa.adapter import get_adapter

    class AddPasskeyInput(AddWebAuthnInput):
        def clean_credential(self):
            credential = self.cleaned_data["credential"]
            if not isinstance(credential, dict):
                raise get_adapter().validation_error("incorrect_code")
            return credential

    return AddPasskeyInput


def install() -> None:
    """Called from AccountsConfig.ready(): allauth's WebAuthn flows use our server and
    refuse malformed credentials with a 400."""
    from allauth.headless.mfa.views import ManageWebAuthnView
    from allauth.mfa.webauthn.internal import auth

    auth.get_server = webauthn_server
    for name in ("parse_registration_response", "parse_authentication_response"):
        setattr(auth, name, _refusing_malformed(getattr(auth, name)))
    ManageWebAuthnView.input_class = {
        **ManageWebAuthnView.input_class,
        "POST": _add_passkey_input(),
    }
