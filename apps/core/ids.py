"""Opaque, URL-safe record ids (15 lowercase alphanumerics, like PocketBase)."""

import secrets
import string

ALPHABET = string.ascii_lowercase + string.digits
ID_LENGTH = 15


def new_id(length: int = ID_LENGTH) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))
