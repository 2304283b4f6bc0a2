"""Liveness (/healthz) and readiness (/readyz): what load balancers and orchestrators poll."""

from __future__ import annotations

import time

import pytest
from django.db import OperationalError
from django.test import Client

from apps.core import views
from tests.e2e.servers import free_port


def test_healthz_is_ok_without_touching_the_database():
    response = Client().get("/healthz")  # no django_db mark: a query here would raise
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_ok_when_database_cache_and_broker_answer():
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok", "broker": "ok"},
    }
    assert "Retry-After" not in response


@pytest.mark.django_db
def test_readyz_is_503_with_retry_after_when_the_broker_is_unreachable(monkeypatch):
    from baas.celery import app

    monkeypatch.setattr(app.conf, "broker_url", f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    response = Client().get("/readyz")
    assert time.monotonic() - started < 10  # a probe answers, it does not hang
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert int(response["Retry-After"]) > 0
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == body["checks"]["cache"] == "ok"
    assert body["checks"]["broker"].startswith("error")


@pytest.mark.django_db
def test_readyz_is_503_when_the_database_is_down_and_says_nothing_internal(monkeypatch):
    def database_down():
        raise OperationalError(
            'connection to server at "10.1.2.3", port 5432 failed: password for baas'
        )

    monkeypatch.setitem(views.CHECKS, "database", database_down)
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response["Retry-After"]
    assert response.json()["checks"]["database"] == "error: OperationalError"
    assert b"10.1.2.3" not in response.content
    assert b"password" not in response.content


def test_readyz_only_answers_get():
    assert Client().post("/readyz").status_code == 405


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/api/v1/openapi.json"])
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_wrong_method_on_an_operational_endpoint_is_405_in_the_envelope(path, method):
    client = Client(enforce_csrf_checks=True)  # as a real server: no CSRF page either
    response = getattr(client, method)(path, b"{}", content_type="application/json")
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response.json()["errors"][0]["code"] == "method_not_allowed"
    assert {m.strip() for m in response["Allow"].split(",")} >= {"GET", "HEAD"}


def test_probes_answer_head_as_load_balancers_send_it():
    response = Client().head("/healthz")
    assert response.status_code == 200
