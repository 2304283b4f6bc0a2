"""The console's navigation: a page appears once its URL exists (each area's urls.py)."""

from __future__ import annotations

from functools import cache

from django.urls import NoReverseMatch, reverse

# (section, label, URL name)
ENTRIES = [
    ("Data", "Collections", "console:collections"),
    ("Data", "Files", "console:files"),
    ("Data", "Realtime", "console:realtime"),
    ("Access", "Users", "console:users"),
    ("Access", "API keys", "console:keys"),
    ("Server", "Push", "console:push"),
    ("Server", "Jobs", "console:jobs"),
    ("Server", "Webhooks", "console:webhooks"),
    ("Server", "Audit log", "console:audit"),
    ("Server", "Settings", "console:settings"),
]


@cache
def entries() -> list[dict]:
    found = []
    for section, label, name in ENTRIES:
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        found.append({"section": section, "label": label, "url": url})
    return found


def context(request) -> dict:
    """Template context processor: the navigation, and which entry is current."""
    if not request.path.startswith("/console/"):
        return {}
    items = [
        dict(item, current=request.path.startswith(item["url"])) for item in entries()
    ]
    sections: dict[str, list] = {}
    for item in items:
        sections.setdefault(item["section"], []).append(item)
    return {"console_nav": sections}
