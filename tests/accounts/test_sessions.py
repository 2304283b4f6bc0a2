"""Signed-in devices: a user lists them and ends any of them; nobody else can."""

from __future__ import annotations

from rest_framework.test import APIClient

from tests.accounts.test_tokens import refresh, sign_in, works
from tests.conftest import client_with

SESSIONS = "/api/v1/auth/sessions"


def test_a_user_lists_their_devices(db, app_user):
    phone = sign_in(app_user.email, agent="Phone/1.0")
    sign_in(app_user.email, agent="Laptop/2.0")
    response = client_with(phone["access_token"]).get(SESSIONS)
    assert response.status_code == 200, response.content
    sessions = response.json()["data"]
    assert {s["user_agent"] for s in sessions} == {"Phone/1.0", "Laptop/2.0"}
    assert [s["user_agent"] for s in sessions if s["is_current"]] == ["Phone/1.0"]


def test_ending_another_device_signs_it_out_at_once(db, app_user):
    phone = sign_in(app_user.email, agent="Phone/1.0")
    laptop = sign_in(app_user.email, agent="Laptop/2.0")
    client = client_with(phone["access_token"])
    sessions = client.get(SESSIONS).json()["data"]
    laptop_id = next(s["id"] for s in sessions if s["user_agent"] == "Laptop/2.0")
    response = client.delete(SESSIONS, {"sessions": [laptop_id]}, format="json")
    assert response.status_code == 200, response.content
    assert not works(laptop["access_token"])
    assert refresh(laptop["refresh_token"]).status_code == 401
    assert works(phone["access_token"])
    assert [s["user_agent"] for s in client.get(SESSIONS).json()["data"]] == [
        "Phone/1.0"
    ]


def test_a_user_cannot_end_someone_elses_session(db, app_user, make_user):
    other = make_user("other@example.com")
    mine = sign_in(app_user.email)
    theirs = sign_in(other.email)
    their_id = client_with(theirs["access_token"]).get(SESSIONS).json()["data"][0]["id"]
    response = client_with(mine["access_token"]).delete(
        SESSIONS, {"sessions": [their_id]}, format="json"
    )
    assert response.status_code == 400, response.content
    assert works(theirs["access_token"])


def test_a_refresh_keeps_the_device_in_the_list(db, app_user):
    phone = sign_in(app_user.email, agent="Phone/1.0")
    fresh = refresh(phone["refresh_token"]).json()["data"]
    sessions = client_with(fresh["access_token"]).get(SESSIONS).json()["data"]
    assert [s["user_agent"] for s in sessions] == ["Phone/1.0"]


def test_guests_cannot_list_sessions(db):
    assert APIClient().get(SESSIONS).status_code == 401
