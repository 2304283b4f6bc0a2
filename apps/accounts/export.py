"""A GDPR export (right of access, art. 15; portability, art. 20): everything stored about
one account, as one JSON document produced piece by piece (memory stays bounded however
many records the account has).

Included: the account's `users` record with every field (custom profile fields and
`hidden` ones too: they are data about this person), account flags and dates, email
addresses, social accounts, second factors, device sessions, and every record of every
other collection whose relation field points at the account, rendered as the records
API renders them for a superuser (every field).

Left out, on purpose:
- the password hash (derived from a secret; in a leaked export file it can be cracked
  offline), and Django's `groups` / `user_permissions` (unused framework internals);
- second-factor secrets, recovery codes and passkey key material (`Authenticator.data`:
  whoever holds them can sign in as the user);
- session keys and refresh-token state (they are credentials for the live sessions);
- social accounts' `extra_data` (the provider's profile payload, which for some
  providers carries token material) and any stored provider tokens;
- API keys (they belong to the project, not to a user);
- records of `users` itself that point at this account (another person's account and
  profile, e.g. their `friends` list).
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from allauth.usersessions.models import UserSession
from django.db.models import Q
from django.utils import timezone

from apps.accounts.apikeys import KeyPrincipal
from apps.collections.access import Access
from apps.collections.bootstrap import USERS_ID
from apps.collections.dynamic import cache
from apps.collections.field_types import get_type
from apps.collections.field_types.date import format_datetime
from apps.collections.models import Collection, Field
from apps.collections.spec import CollectionSpec, FieldSpec
from apps.core.renderers import dumps
from apps.records.record_view import RecordView

FORMAT = "baas.account-export.v1"
BATCH = 200  # records rendered and written at a time
#: Reads every field of every collection, as the records API shows them to a superuser.
EXPORTER = KeyPrincipal(
    key_id="", name="account export", scopes=frozenset({"records:read"})
)


def export_filename(user) -> str:
    return f"account-{user.pk}-{timezone.now():%Y%m%d}.json"


def export_account(user) -> Iterator[bytes]:
    """The document for `user`, in pieces (valid JSON once joined)."""
    pk = user.pk
    yield b'{"format":' + orjson.dumps(FORMAT)
    yield b',"exported_at":' + orjson.dumps(format_datetime(timezone.now()))
    users = cache.spec_for(Collection.objects.get(pk=USERS_ID))
    for key, value in (
        ("user", _users_record(users, pk)),
        ("account", _account(user)),
        ("email_addresses", _email_addresses(pk)),
        ("social_accounts", _social_accounts(pk)),
        ("authenticators", _authenticators(pk)),
        ("sessions", _sessions(pk)),
        ("push_devices", _push_devices(pk)),
    ):
        yield b',"' + key.encode() + b'":' + dumps(value)
    yield b',"collections":['
    first = True
    for spec, fields in referencing_collections():
        yield (b"" if first else b",") + b'{"collection":' + orjson.dumps(spec.name)
        yield b',"fields":' + orjson.dumps([f.name for f in fields])
        yield b',"records":['
        separator = b""
        for batch in _records_pointing_at(spec, fields, pk):
            yield separator + b",".join(dumps(record) for record in batch)
            separator = b","
        yield b"]}"
        first = False
    yield b"]}"


def _users_record(spec: CollectionSpec, pk: str) -> dict | None:
    view = RecordView(Access(EXPORTER, spec))
    model = cache.model_for(spec)
    rows = list(view.values(model.objects.filter(pk=pk)))
    return view.render(rows)[0] if rows else None


def _push_devices(pk: str) -> list[dict]:
    """The user's push devices, each with the messages it was sent (and their result)."""
    from apps.push.devices import export_devices

    return export_devices(pk)


def _account(user) -> dict:
    return {
        "is_guest": user.is_guest,
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "has_usable_password": user.has_usable_password(),
        "created": format_datetime(user.created),
        "last_login": format_datetime(user.last_login),
    }


def _email_addresses(pk: str) -> list[dict]:
    return [
        {"email": email, "primary": primary, "verified": verified}
        for email, primary, verified in EmailAddress.objects.filter(user_id=pk)
        .order_by("pk")
        .values_list("email", "primary", "verified")
    ]


def _social_accounts(pk: str) -> list[dict]:
    return [
        {
            "provider": provider,
            "uid": uid,
            "date_joined": format_datetime(joined),
            "last_login": format_datetime(last_login),
        }
        for provider, uid, joined, last_login in SocialAccount.objects.filter(
            user_id=pk
        )
        .order_by("pk")
        .values_list("provider", "uid", "date_joined", "last_login")
    ]


def _authenticators(pk: str) -> list[dict]:
    found = []
    for authenticator in Authenticator.objects.filter(user_id=pk).order_by("pk"):
        item = {
            "type": authenticator.type,
            "created": format_datetime(authenticator.created_at),
            "last_used": format_datetime(authenticator.last_used_at),
        }
        if authenticator.type == Authenticator.Type.WEBAUTHN:
            item["name"] = (authenticator.data or {}).get("name")
        found.append(item)
    return found


def _sessions(pk: str) -> list[dict]:
    return [
        {
            "ip": ip,
            "user_agent": agent,
            "created": format_datetime(created),
            "last_seen": format_datetime(seen),
        }
        for ip, agent, created, seen in UserSession.objects.filter(user_id=pk)
        .order_by("created_at")
        .values_list("ip", "user_agent", "created_at", "last_seen_at")
    ]


def referencing_collections() -> list[tuple[CollectionSpec, list[FieldSpec]]]:
    """Every collection but `users` with relation fields to `users`, and those fields."""
    by_collection: dict[str, list[str]] = {}
    for collection_id, field_id, options in Field.objects.filter(
        type="relation"
    ).values_list("collection_id", "id", "options"):
        if (options or {}).get("collection") == USERS_ID and collection_id != USERS_ID:
            by_collection.setdefault(collection_id, []).append(field_id)
    found = []
    for collection in Collection.objects.filter(pk__in=by_collection).order_by("name"):
        spec = cache.spec_for(collection)
        fields = [f for f in map(spec.field_by_id, by_collection[collection.id]) if f]
        if fields:
            found.append((spec, fields))
    return found


def _records_pointing_at(
    spec: CollectionSpec, fields: list[FieldSpec], pk: str
) -> Iterator[list[dict]]:
    """The records whose relation `fields` hold `pk`, rendered, in batches (keyset)."""
    model = cache.model_for(spec)
    condition = Q()
    for field in fields:
        if get_type(field.type).is_many(field):
            m2m = model._meta.get_field(field.attname)
            through = m2m.remote_field.through
            holders = through.objects.filter(**{m2m.m2m_reverse_name(): pk}).values(
                m2m.m2m_column_name()
            )
            condition |= Q(pk__in=holders)
        else:
            condition |= Q(**{field.attname: pk})
    view = RecordView(Access(EXPORTER, spec))
    queryset = model.objects.filter(condition).order_by("pk")
    last = None
    while True:
        page = queryset if last is None else queryset.filter(pk__gt=last)
        rows = list(view.values(page)[:BATCH])
        if not rows:
            return
        yield view.render(rows)
        if len(rows) < BATCH:
            return
        last = rows[-1]["id"]
