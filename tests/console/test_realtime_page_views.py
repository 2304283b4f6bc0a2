"""The console's realtime page in-process: channel CRUD through
apps.realtime.channels (errors in place), hostile names and rules as text, and the
live state said honestly."""

from __future__ import annotations

import pytest

from apps.realtime.models import Channel

pytestmark = pytest.mark.usefixtures("schema_db")

XSS = '<img src=x onerror=alert(1)>"><script>'


def test_no_live_numbers_without_a_hub_in_this_process(console_client, settings):
    response = console_client.get("/console/realtime/")
    assert response.status_code == 200
    if settings.REDIS_URL:  # the production profile: realtime processes beat in Redis
        assert response.context["live"] == {"source": "redis", "processes": 0}
        assert (
            "0</strong> realtime processes serving clients" in response.content.decode()
        )
    else:
        assert response.context["live"] == {"source": "none"}
        assert "cannot see them" in response.content.decode()


def test_channels_are_created_edited_and_deleted(console_client):
    created = console_client.post(
        "/console/realtime/",
        {
            "name": "room-*",
            "subscribe_rule": "@request.auth.id != ''",
            "publish_superusers": "1",
            "presence": "1",
        },
    )
    assert created.status_code == 302, created.content
    channel = Channel.objects.get()
    assert (channel.subscribe_rule, channel.publish_rule, channel.presence) == (
        "@request.auth.id != ''",
        None,
        True,
    )
    page = console_client.get("/console/realtime/").content.decode()
    assert "room-*" in page and "superusers only" in page
    edited = console_client.post(
        "/console/realtime/channels/room-*/",
        {"subscribe_rule": "", "publish_rule": "@channel.name = 'room-1'"},
    )
    assert edited.status_code == 302
    channel.refresh_from_db()
    assert (channel.subscribe_rule, channel.publish_rule, channel.presence) == (
        "",
        "@channel.name = 'room-1'",
        False,
    )
    bad = console_client.post(
        "/console/realtime/channels/room-*/", {"subscribe_rule": XSS}
    )
    assert bad.status_code == 400
    assert "Invalid expression" in bad.context["edit_error"]
    assert "<img src=x" not in bad.content.decode()
    deleted = console_client.post("/console/realtime/channels/room-*/delete/")
    assert deleted.status_code == 302
    assert not Channel.objects.exists()
    gone = console_client.post("/console/realtime/channels/room-*/delete/", follow=True)
    assert "No channel named" in gone.content.decode()


@pytest.mark.parametrize(
    ("form", "field", "text"),
    [
        ({"name": XSS}, "name", "A channel name is"),
        ({"name": "lobby", "subscribe_rule": XSS}, "subscribe", "Invalid expression"),
        ({"name": "lobby", "publish_rule": "title = 1"}, "publish", "no fields"),
    ],
)
def test_create_errors_are_shown_next_to_their_field(console_client, form, field, text):
    response = console_client.post("/console/realtime/", form)
    assert response.status_code == 400
    assert text in response.context["form_errors"][field]
    html = response.content.decode()
    assert "<img src=x" not in html and '"><script>' not in html
    assert not Channel.objects.exists()


def test_a_duplicate_channel_is_a_conflict(console_client):
    assert (
        console_client.post("/console/realtime/", {"name": "lobby"}).status_code == 302
    )
    again = console_client.post("/console/realtime/", {"name": "lobby"})
    assert again.status_code == 409
    assert "exists already" in again.content.decode()


def test_a_hub_in_this_process_is_counted(console_client, monkeypatch):
    from types import SimpleNamespace

    from apps.realtime import hub

    conn = SimpleNamespace(subscriptions={"s1": object(), "s2": object()})
    running = SimpleNamespace(
        loop=object(),
        connections=[conn],
        channels={"channel:lobby": set()},
        present={"channel:lobby": {"u1": 1, "u2": 1}},
    )
    monkeypatch.setattr(hub, "_hub", running)
    response = console_client.get("/console/realtime/")
    assert response.context["live"] == {
        "source": "process",
        "connections": 1,
        "subscriptions": 2,
        "channels": 1,
        "present": 2,
    }
