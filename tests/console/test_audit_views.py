"""The console_client's audit log in-process: entries newest first, filtered by action, actor
(an email too), target and time with the API's parsing and errors shown next to each
filter, paging, an entry's diff path by path, and values rendered as text."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.hooks import audit
from apps.hooks.models import AuditEntry

XSS = '<img src=x onerror=alert(1)>"><script>'

pytestmark = pytest.mark.django_db(transaction=True)


def entry(action: str, name: str, *, actor=None, before=None, after=None, ago=0):
    made = audit.record(
        actor=actor,
        action=action,
        target=audit.Target(action.split(".")[0], f"id-{name}", name),
        before=before,
        after=after,
    )
    if ago:
        AuditEntry.objects.filter(pk=made.pk).update(
            at=made.at - timedelta(minutes=ago)
        )
    return made


def test_entries_are_listed_newest_first(console_client, superuser):
    entry("collection.create", "posts", actor=superuser, after={"name": "posts"}, ago=5)
    entry("apikey.revoke", "ci key", actor=superuser, before={"revoked": False})
    html = console_client.get("/console/audit/").content.decode()
    assert html.index("apikey.revoke") < html.index("collection.create")
    assert superuser.email in html


def test_filters_select_entries(console_client, superuser):
    entry("collection.create", "posts", actor=superuser, ago=120)
    entry("collection.update", "posts", actor=superuser, ago=60)
    entry("apikey.revoke", "ci key")  # system
    assert_listed = _listed(console_client)
    assert assert_listed("action=collection.*") == {
        "collection.create",
        "collection.update",
    }
    assert assert_listed("action=apikey.revoke") == {"apikey.revoke"}
    assert assert_listed(f"actor={superuser.email}") == {
        "collection.create",
        "collection.update",
    }
    assert assert_listed("actor=system") == {"apikey.revoke"}
    assert assert_listed("target=collection:posts") == {
        "collection.create",
        "collection.update",
    }
    since = (timezone.now() - timedelta(minutes=90)).strftime("%Y-%m-%dT%H:%M:%S")
    until = (timezone.now() - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M")
    assert assert_listed(f"since={since}&until={until}") == {"collection.update"}
    assert assert_listed("since=2020-01-01T00:00:00Z&action=apikey.*") == {
        "apikey.revoke"
    }


def _listed(console_client):
    def listed(query: str) -> set[str]:
        page = console_client.get(f"/console/audit/?{query}")
        assert page.status_code == 200, page.content.decode()
        ids = AuditEntry.objects.values_list("pk", "action")
        html = page.content.decode()
        return {action for pk, action in ids if f"/console/audit/{pk}/" in html}

    return listed


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("action=Not An Action", "action"),
        ("actor=nobody@example.com", "actor"),
        ("actor=robot:x", "actor"),
        ("since=yesterday", "since"),
        ("until=2024-13-45", "until"),
    ],
)
def test_bad_filters_are_shown_next_to_them(console_client, query, param):
    response = console_client.get(f"/console/audit/?{query}")
    assert response.status_code == 400
    assert f'id="{param}-error"' in response.content.decode()


def test_the_log_is_paged(console_client):
    for i in range(35):
        entry("schedule.update", f"sched_{i:02d}_z", ago=100 - i)
    first = console_client.get(
        "/console/audit/?action=schedule.update"
    ).content.decode()
    assert (
        "Older entries" in first and "sched_34_z" in first and "sched_00_z" not in first
    )
    link = first.split('href="?action=schedule.update&amp;cursor=')[1].split('"')[0]
    second = console_client.get(f"/console/audit/?action=schedule.update&cursor={link}")
    html = second.content.decode()
    assert "sched_00_z" in html and "sched_34_z" not in html and "Newest" in html


def test_an_entry_shows_its_diff_path_by_path(console_client, superuser):
    made = entry(
        "collection.update",
        "posts",
        actor=superuser,
        before={"rules": {"list": None}, "name": "posts"},
        after={
            "rules": {"list": "", "view": "@request.auth.id != ''"},
            "name": "posts",
        },
    )
    html = console_client.get(f"/console/audit/{made.pk}/").content.decode()
    assert ">rules.list</th>" in html and ">rules.view</th>" in html
    assert "Full snapshots" in html
    assert console_client.get("/console/audit/nope!/").status_code == 404
    assert console_client.get("/console/audit/abcdefabcdef/").status_code == 404


def test_audit_values_render_as_text(console_client):
    made = entry("collection.update", XSS, before={"name": XSS}, after={"name": "x"})
    for url in (
        "/console/audit/",
        f"/console/audit/{made.pk}/",
        f"/console/audit/?target={XSS}",
    ):
        html = console_client.get(url).content.decode()
        assert "<img src=x" not in html and '"><script>' not in html
