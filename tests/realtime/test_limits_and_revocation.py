"""Who stops receiving, and when: token expiry, logout, deactivation, rule changes; and
the limits that keep one client from hurting the others."""

from __future__ import annotations

import time

from django.test import override_settings

from tests.conftest import USER_PASSWORD, client_with, login
from tests.realtime.test_realtime_ws import POSTS, create, make_posts

SIGNED_IN = {
    "list": "@request.auth.id != ''",
    "view": "@request.auth.id != ''",
    "create": "",
    "update": "",
    "delete": "",
}


def signed_in_socket(live, make_user, email="alice@example.com"):
    make_user(email)
    token = login(email, USER_PASSWORD)
    ws = live()
    assert ws.auth(token)["type"] == "authenticated"
    assert ws.subscribe()["type"] == "subscribed"
    return ws, token


def test_logout_closes_the_users_connections_at_once(live, admin, make_user, anon):
    make_posts(admin, SIGNED_IN)
    ws, token = signed_in_socket(live, make_user)
    response = client_with(token).delete("/api/v1/auth/session")
    assert response.status_code in (200, 401), response.content
    assert ws.receive() == {"type": "_closed", "code": 4003}


def test_deactivating_an_account_closes_its_connections(live, admin, make_user):
    make_posts(admin, SIGNED_IN)
    ws, _ = signed_in_socket(live, make_user)
    from apps.accounts.models import User

    user = User.objects.get(email="alice@example.com")
    user.is_active = False
    user.save()
    assert ws.receive() == {"type": "_closed", "code": 4003}


@override_settings(HEADLESS_JWT_ACCESS_TOKEN_EXPIRES_IN=4)
def test_an_expired_token_closes_with_4001_unless_auth_is_sent_again(
    live, admin, make_user, anon
):
    make_posts(admin, SIGNED_IN)
    ws, _ = signed_in_socket(live, make_user)
    refreshed, _ = signed_in_socket(live, make_user, "bob@example.com")
    time.sleep(1.1)  # expiry is in whole seconds: the new token's must be later
    again = refreshed.auth(login("bob@example.com", USER_PASSWORD))
    assert again["type"] == "authenticated", again
    assert ws.receive(6) == {"type": "_closed", "code": 4001}
    create(anon, title="still here")
    frame = refreshed.receive()
    assert frame.get("record", {}).get("title") == "still here", frame


def test_a_rule_change_stops_events_at_once(live, admin, anon):
    make_posts(admin)
    ws = live()
    ws.subscribe()
    create(anon, title="seen")
    assert ws.receive()["record"]["title"] == "seen"
    response = admin.patch(
        "/api/v1/collections/posts",
        {"rules": {**SIGNED_IN, "create": ""}},
        format="json",
    )
    assert response.status_code == 200, response.content
    admin.post(POSTS, {"title": "hidden now"}, format="json")
    assert ws.nothing(1.0)


@override_settings(BAAS_REALTIME_MAX_SUBSCRIPTIONS=2)
def test_subscriptions_per_connection_are_limited(live, admin):
    make_posts(admin)
    ws = live()
    ws.subscribe("a")
    ws.subscribe("b")
    third = ws.subscribe("c")
    assert third["status"] == 429
    assert third["errors"][0]["code"] == "too_many_subscriptions"
    duplicate = ws.subscribe("a")
    assert duplicate["status"] == 409 or duplicate["status"] == 429


@override_settings(BAAS_REALTIME_MAX_CONNECTIONS_PER_USER=1)
def test_connections_per_user_are_limited(live, admin, make_user):
    make_posts(admin, SIGNED_IN)
    signed_in_socket(live, make_user)
    second = live()
    answer = second.auth(login("alice@example.com", USER_PASSWORD))
    assert answer["status"] == 429
    assert second.receive() == {"type": "_closed", "code": 4029}


@override_settings(BAAS_REALTIME_FRAME_RATE=1, BAAS_REALTIME_FRAME_BURST=60)
def test_a_flood_of_frames_is_closed_with_4029(live):
    # The bucket refills while the flood is read (one frame a second here, so a loaded
    # machine that takes a while over the 100 frames still cannot earn 40 more).
    ws = live()
    for _ in range(100):
        ws.send(type="ping")
    frames = []
    while not frames or frames[-1]["type"] != "_closed":
        frames.append(ws.receive())
        assert len(frames) <= 101
    assert frames[-1] == {"type": "_closed", "code": 4029}
    assert 60 <= len(frames) - 1 < 100
    assert all(frame == {"type": "pong"} for frame in frames[:-1])


def test_an_oversized_frame_is_closed_with_1009(live):
    ws = live()
    ws.send(type="ping", pad="x" * 70_000)
    assert ws.receive() == {"type": "_closed", "code": 1009}


def test_browsers_from_other_origins_are_refused(live):
    refused = live(
        headers=[(b"origin", b"https://evil.example"), (b"host", b"api.test")]
    )
    assert refused.connected is False
    same = live(headers=[(b"origin", b"https://api.test"), (b"host", b"api.test")])
    assert same.connected is True
    with override_settings(CORS_ALLOWED_ORIGINS=["https://app.example"]):
        listed = live(
            headers=[(b"origin", b"https://app.example"), (b"host", b"api.test")]
        )
        assert listed.connected is True
