"""Channels (API.md "Realtime"): configuration by superusers, rules for subscribing and
publishing, messages between clients, presence."""

from __future__ import annotations

import pytest

from tests.conftest import USER_PASSWORD, login

CHANNELS = "/api/v1/channels"
pytestmark = pytest.mark.usefixtures("schema_db")


def configure(admin, **body) -> dict:
    response = admin.post(CHANNELS, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_superusers_configure_channels_and_the_schema_carries_them(admin):
    made = configure(
        admin,
        name="room-*",
        rules={"subscribe": "@request.auth.id != ''", "publish": None},
        presence=True,
    )
    assert made["name"] == "room-*" and made["presence"] is True
    assert admin.get(CHANNELS).json()["items"][0]["name"] == "room-*"
    changed = admin.patch(f"{CHANNELS}/room-*", {"presence": False}, format="json")
    assert changed.status_code == 200 and changed.json()["presence"] is False
    exported = admin.get("/api/v1/schema").json()
    assert exported["channels"] == [
        {
            "name": "room-*",
            "rules": {"subscribe": "@request.auth.id != ''", "publish": None},
            "presence": False,
        }
    ]
    assert admin.delete(f"{CHANNELS}/room-*").status_code == 204
    exported["channels"][0]["name"] = "lobby"
    imported = admin.post("/api/v1/schema/import", exported, format="json")
    assert imported.status_code == 200, imported.content
    assert [c["name"] for c in admin.get(CHANNELS).json()["items"]] == ["lobby"]


@pytest.mark.parametrize(
    "body, param",
    [
        ({"name": "bad name"}, "name"),
        ({"name": "x", "rules": {"subscribe": "title = 'a'"}}, "rules.subscribe"),
        (
            {"name": "x", "rules": {"subscribe": "@request.body.a = 1"}},
            "rules.subscribe",
        ),
        ({"name": "x", "rules": {"read": ""}}, "rules"),
        ({"name": "x", "presence": "yes"}, "presence"),
    ],
)
def test_bad_channel_configurations_are_400(admin, body, param):
    response = admin.post(CHANNELS, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["param"] == param


def test_app_users_cannot_configure_channels(user_client, anon):
    assert user_client.get(CHANNELS).status_code == 403
    assert anon.post(CHANNELS, {"name": "x"}, format="json").status_code == 401


def test_messages_reach_every_other_subscriber_under_the_rules(live, admin, make_user):
    configure(
        admin,
        name="room-*",
        rules={
            "subscribe": "@request.auth.id != ''",
            "publish": "@channel.name != 'room-readonly'",
        },
    )
    make_user("alice@example.com")
    make_user("bob@example.com")
    alice, bob, guest = live(), live(), live()
    alice.auth(login("alice@example.com", USER_PASSWORD))
    bob_user = bob.auth(login("bob@example.com", USER_PASSWORD))["user"]
    refused = guest.subscribe("g", topic="channel:room-1")
    assert refused["status"] == 401
    assert alice.subscribe("c", topic="channel:room-1")["type"] == "subscribed"
    assert bob.subscribe("c", topic="channel:room-1")["type"] == "subscribed"
    bob.send(type="publish", id="p1", topic="channel:room-1", data={"text": "hi"})
    assert bob.receive() == {"type": "published", "id": "p1"}
    assert alice.receive() == {
        "type": "message",
        "topic": "channel:room-1",
        "data": {"text": "hi"},
        "from": bob_user,
    }
    assert bob.nothing()  # not to the sender
    bob.send(type="publish", id="p2", topic="channel:room-readonly", data=1)
    assert bob.receive()["status"] == 403
    unknown = alice.subscribe("u", topic="channel:nowhere")
    assert (
        unknown["status"] == 404 and unknown["errors"][0]["code"] == "channel_not_found"
    )


def test_presence_lists_members_and_announces_joins_and_leaves(live, admin, make_user):
    configure(
        admin, name="lobby", rules={"subscribe": "", "publish": ""}, presence=True
    )
    make_user("alice@example.com")
    make_user("bob@example.com")
    alice, bob = live(), live()
    alice_id = alice.auth(login("alice@example.com", USER_PASSWORD))["user"]
    bob_id = bob.auth(login("bob@example.com", USER_PASSWORD))["user"]
    assert alice.subscribe("c", topic="channel:lobby")["members"] == [alice_id]
    ack = bob.subscribe("c", topic="channel:lobby")
    assert sorted(ack["members"]) == sorted([alice_id, bob_id])
    assert alice.receive() == {
        "type": "presence",
        "topic": "channel:lobby",
        "action": "join",
        "user": bob_id,
    }
    # A second connection of bob's changes nothing; closing both is one leave.
    bob2 = live()
    bob2.auth(login("bob@example.com", USER_PASSWORD))
    bob2.subscribe("c", topic="channel:lobby")
    assert alice.nothing()
    bob.close()
    assert alice.nothing()
    bob2.close()
    assert alice.receive()["action"] == "leave"
