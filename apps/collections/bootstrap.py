"""The built-in `users` auth collection (created by migration; restorable after a flush)."""

from __future__ import annotations

USERS_ID = "users"
OWN = "id = @request.auth.id"
USERS_DEFAULTS = {
    "name": "users",
    "name_key": "users",
    "type": "auth",
    "table": "baas_users",
    "system": True,
    "rules": {"list": OWN, "view": OWN, "create": None, "update": OWN, "delete": None},
    "indexes": [],
}


def ensure_users_collection(collection_model) -> None:
    collection_model.objects.get_or_create(id=USERS_ID, defaults=USERS_DEFAULTS)
