"""What `baas serve` writes to stderr is news: not every expected 4xx, not the mail the
console backend prints, not Celery's root warning when running as root is intended.

C_FORCE_ROOT is set as docs/operations.md tells an operator who runs as root on purpose
(containers); the test runs as whichever user runs the suite.
"""

from __future__ import annotations

import re
import time

import pytest
import requests

from tests.e2e import servers

pytestmark = pytest.mark.slow

MAIL_WAIT = 60.0


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A `baas serve` run that answered a 404 and a 401 and printed a mail; stopped."""
    data_dir = tmp_path_factory.mktemp("logs")
    with servers.backing_services() as services:
        env = servers.server_env(
            data_dir, **services, BAAS_EMAIL_BACKEND="console", C_FORCE_ROOT="1"
        )
        server = servers.start_server(
            ["serve"], env=env, log_dir=data_dir, name="serve"
        )
        try:
            server.wait_healthy()
            missing = requests.get(f"{server.url}/api/v1/no-such-thing", timeout=30)
            signup = requests.post(
                f"{server.url}/api/v1/auth/signup",
                json={"email": "new@example.com", "password": "correct-horse-42-x"},
                timeout=30,
            )
            deadline = time.monotonic() + MAIL_WAIT
            while "To: new@example.com" not in server.stdout():
                assert time.monotonic() < deadline, server.logs()
                time.sleep(0.2)
            server.stop()
        finally:
            server.kill()
        yield missing, signup, server


def test_the_run_answered_a_404_and_a_401(run):
    missing, signup, _ = run
    assert missing.status_code == 404
    assert signup.status_code == 401, signup.text


def test_expected_4xx_answers_are_not_logged(run):
    stderr = run[2].stderr_path.read_text()
    assert "Not Found" not in stderr
    assert "Unauthorized" not in stderr


def test_console_mail_is_printed_to_stdout_not_logged_as_a_warning(run):
    server = run[2]
    assert re.search(r"^To: new@example.com$", server.stdout(), re.MULTILINE)
    stderr = server.stderr_path.read_text()
    assert "new@example.com" not in stderr
    assert "WARNING" not in stderr


def test_celerys_root_warning_is_silenced_by_c_force_root(run):
    stderr = run[2].stderr_path.read_text()
    assert "superuser privileges" not in stderr
    assert "SecurityWarning" not in stderr
