"""Redis down (the cache that holds rate limits): a request that needs it is refused with
503 and Retry-After, in the envelope, and has done nothing; never a 500."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.e2e import servers


@pytest.fixture
def redis_down(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{servers.free_port()}/0",
        }
    }


def test_a_sign_up_while_redis_is_down_is_503_with_retry_after(db, redis_down):
    from apps.accounts.models import User

    response = APIClient().post(
        "/api/v1/auth/signup",
        {"email": "nobody@example.com", "password": "A-long-pass-phrase-1"},
        format="json",
    )
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "5"
    assert response.json()["errors"][0]["code"] == "unavailable"
    assert not User.objects.filter(email="nobody@example.com").exists()
