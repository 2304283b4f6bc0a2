"""Small helpers shared by the API areas."""

from __future__ import annotations

from urllib.parse import quote


def segment(value: str) -> str:
    """Quote one path segment (a collection name or record id) for the URL."""
    return quote(str(value), safe="")
