"""Shared fixtures: real login over HTTP for tokens, API keys, and dynamic-table cleanup.

Schema tests use the `transactional_db` (DDL cannot run inside SQLite's test transaction
with foreign keys on); the `clean_schema` fixture drops every collection table afterwards.
"""

from __future__ import annotations

import os
import tempfile

import pytest
from django.db import connection
from rest_framework.test import APIClient

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "AdminPass123!"
USER_PASSWORD = "UserPass123!"

on_postgres = pytest.mark.skipif(
    not os.environ.get("BAAS_DATABASE_URL", "").startswith("postgres"),
    reason="needs the PostgreSQL profile",
)


def _restore_users_collection():
    from apps.collections.bootstrap import ensure_users_collection
    from apps.collections.models import Collection

    ensure_users_collection(Collection)


def drop_dynamic_schema() -> None:
    """Drop every collection table and junction table, and custom columns of `users`."""
    from apps.collections.dynamic import cache, ddl
    from apps.collections.models import Collection, Field
    from apps.collections.services import _fresh_spec

    users = Collection.objects.filter(pk="users").first()
    if users is not None and Field.objects.filter(collection=users).exists():
        with ddl.schema_transaction():
            current = _fresh_spec(users)
            target = current.with_changes(fields=(), indexes=())
            ddl.apply_changes(current, target)
            Field.objects.filter(collection=users).delete()
    tables = [
        t for t in connection.introspection.table_names() if t.startswith(("c_", "r_"))
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in tables:
                cursor.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')
        else:
            cursor.execute("PRAGMA foreign_keys = OFF")
            for table in tables:
                cursor.execute(f'DROP TABLE IF EXISTS "{table}"')
            cursor.execute("PRAGMA foreign_keys = ON")
    Collection.objects.exclude(pk="users").delete()
    cache._specs.clear()
    cache._models.clear()
    cache._seen.clear()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """SQLite: the test database is a file (on tmpfs where there is one), as the
    embedded default's is: WAL, the writer lock, readers that never block a writer. A
    shared-cache memory database locks tables between connections, which the realtime
    hub's reading thread (and any server thread) would meet as spurious errors."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if "sqlite" not in database["ENGINE"]:
        return
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    folder = tempfile.mkdtemp(prefix="baas-test-db-", dir=base)
    database.setdefault("TEST", {})["NAME"] = os.path.join(folder, "test.sqlite3")


@pytest.fixture
def schema_db(transactional_db):
    """A database in which collections can be created; cleaned afterwards."""
    _restore_users_collection()
    yield
    drop_dynamic_schema()


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test starts with an empty cache: allauth's login rate limits (30/min per IP)
    live there, and the fixtures below log in through the real endpoint in every test."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


def login(email: str, password: str) -> str:
    response = APIClient().post(
        "/api/v1/auth/login", {"email": email, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()["meta"]["access_token"]


def client_with(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def superuser(django_db_blocker):
    from apps.accounts.models import User

    return User.objects.create_superuser(email=ADMIN_EMAIL, password=ADMIN_PASSWORD)


@pytest.fixture
def admin(superuser) -> APIClient:
    """A client logged in as a superuser through the real login endpoint."""
    return client_with(login(ADMIN_EMAIL, ADMIN_PASSWORD))


@pytest.fixture
def make_user():
    from apps.accounts.models import User

    def make(email: str = "user1@example.com", password: str = USER_PASSWORD):
        return User.objects.create_user(email=email, password=password)

    return make


@pytest.fixture
def app_user(make_user):
    return make_user()


@pytest.fixture
def user_client(app_user) -> APIClient:
    """A client logged in as an ordinary app user (not a superuser)."""
    return client_with(login(app_user.email, USER_PASSWORD))


@pytest.fixture
def key_client():
    """key_client("records:read", ...) -> a client authenticated by a fresh API key."""
    from apps.accounts.apikeys import apikey_create

    def make(*scopes: str) -> APIClient:
        _, plaintext = apikey_create(name="test key", scopes=list(scopes))
        return client_with(plaintext)

    return make


def shared_world(build):
    """`world` and `transactional_db` fixtures for a module whose tests share data that
    `build()` commits once (a large scenario set): flushed when the module is done.

    The second shadows pytest-django's `transactional_db` (which flushes after every
    test); keeping the name keeps pytest-django's handling of a transactional test: the
    test database is created whichever tests are selected, and the module runs after
    the tests that roll back their transaction. Use in the module as
    `world, transactional_db = shared_world(World)` with
    `pytestmark = pytest.mark.usefixtures("transactional_db")`."""
    from django.core.management import call_command

    @pytest.fixture(scope="module")
    def world(django_db_setup, django_db_blocker):
        with django_db_blocker.unblock():
            _restore_users_collection()
            try:
                yield build()
            finally:
                drop_dynamic_schema()
                call_command("flush", verbosity=0, interactive=False)

    @pytest.fixture
    def transactional_db(world):
        return world

    return world, transactional_db
