"""A server started on a port already in use exits at once, non-zero, naming the port.

granian listens with SO_REUSEPORT: without the check (baas/ports.py) a second server
started silently and shared the port with the first, each answering by turns.
"""

from __future__ import annotations

import socket

import pytest
import requests

from tests.e2e import servers

pytestmark = pytest.mark.slow

COMMANDS = {
    "serve": ["serve"],
    "web": ["web", "--host", "127.0.0.1"],
    "realtime": ["realtime", "--host", "127.0.0.1"],
}


def refused(args: list[str], port: int, env: dict[str, str]) -> str:
    """Run the command on `port`; it must exit by itself, non-zero. Its stderr."""
    finished = servers.run_baas(*args, "--port", str(port), env=env, timeout=60)
    assert finished.returncode != 0, finished.stdout + finished.stderr
    assert "running at" not in finished.stdout
    return finished.stderr


def names_the_port(stderr: str, port: int) -> bool:
    """One line, naming the port."""
    lines = stderr.strip().splitlines()
    return len(lines) == 1 and f"port {port} is already in use" in lines[0]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_port_another_program_listens_on_is_refused(command, tmp_path):
    env = servers.server_env(tmp_path)
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        stderr = refused(COMMANDS[command], port, env)
    assert names_the_port(stderr, port), stderr


def test_a_second_server_on_the_port_of_a_running_one_is_refused(tmp_path_factory):
    first_dir = tmp_path_factory.mktemp("first")
    with servers.backing_services() as services:
        first = servers.start_server(
            ["serve", "--no-worker"],
            env=servers.server_env(first_dir, **services),
            log_dir=first_dir,
            name="first",
        )
        try:
            first.wait_healthy()
            second_env = servers.server_env(tmp_path_factory.mktemp("second"))
            for command in ("serve", "web"):
                stderr = refused(COMMANDS[command], first.port, second_env)
                assert names_the_port(stderr, first.port), stderr
            assert first.running()
            for _ in range(20):  # every answer still comes from the first server
                response = requests.get(f"{first.url}/healthz", timeout=10)
                assert response.status_code == 200
        finally:
            first.kill()
