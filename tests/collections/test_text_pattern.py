"""A text field's pattern runs on client input: a catastrophic pattern cannot stall a worker."""

import pytest


@pytest.fixture
def guarded(schema_db, admin):
    response = admin.post(
        "/api/v1/collections",
        {
            "name": "guarded",
            "fields": [
                {"name": "code", "type": "text", "options": {"pattern": "^(a+)+$"}}
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return admin


def test_matching_value_is_accepted(guarded):
    assert (
        guarded.post(
            "/api/v1/collections/guarded/records", {"code": "aaaa"}, format="json"
        ).status_code
        == 201
    )


def test_catastrophic_backtracking_input_is_refused_quickly_with_a_400(guarded):
    response = guarded.post(
        "/api/v1/collections/guarded/records", {"code": "a" * 40 + "!"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["param"] == "code"
    assert response.json()["errors"][0]["code"] in {"pattern", "pattern_timeout"}
