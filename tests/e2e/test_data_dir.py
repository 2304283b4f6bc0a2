"""`baas` commands find one data directory from any working directory and say which.

The commands run from a virtualenv of the test's own (`python -m venv`, using the
installed packages through a .pth file), so the default data directory, beside that
virtualenv, is a temporary one and never the repository's. BAAS_DATA_DIR is not set.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e import servers

pytestmark = pytest.mark.slow

EMAIL = "owner@example.com"
PASSWORD = "correct-horse-battery-42"


@pytest.fixture(scope="module")
def install(tmp_path_factory) -> Path:
    """<tmp>/app/.venv: a virtualenv that sees the packages `baas` is installed with."""
    app = tmp_path_factory.mktemp("app")
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(app / ".venv")],
        check=True,
        timeout=120,
    )
    installed = subprocess.run(
        [
            str(servers.BIN / "python"),
            "-c",
            "import site; print(site.getsitepackages()[0])",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (site_packages,) = (app / ".venv" / "lib").glob("python3*/site-packages")
    (site_packages / "baas-installed.pth").write_text(
        f"import site; site.addsitedir({installed!r})\n"
    )
    return app


def baas(install: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = servers.server_env(install)
    del env["BAAS_DATA_DIR"]
    cwd.mkdir(exist_ok=True)
    return subprocess.run(
        [str(install / ".venv" / "bin" / "python"), "-m", "baas.cli", *args],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def test_a_superuser_created_in_one_directory_is_found_from_another(install, tmp_path):
    data_line = f"baas: data directory {install.resolve() / 'baas_data'}"
    created = baas(
        install,
        tmp_path / "a",
        "createsuperuser",
        "--email",
        EMAIL,
        "--password",
        PASSWORD,
    )
    assert created.returncode == 0, created.stderr
    assert f"Superuser {EMAIL} created." in created.stdout
    assert data_line in created.stderr.splitlines()

    again = baas(
        install,
        tmp_path / "b",
        "createsuperuser",
        "--email",
        EMAIL,
        "--password",
        PASSWORD,
    )
    assert again.returncode == 0, again.stderr
    assert f"Superuser {EMAIL} already exists." in again.stdout
    assert data_line in again.stderr.splitlines()
    assert not (tmp_path / "a" / "baas_data").exists()
    assert not (tmp_path / "b" / "baas_data").exists()


def test_a_command_whose_output_is_data_names_the_directory_on_stderr(
    install, tmp_path
):
    created = baas(
        install,
        tmp_path,
        "apikey",
        "create",
        "--name",
        "backend",
        "--scopes",
        "records:read",
    )
    assert created.returncode == 0, created.stderr
    assert "data directory" not in created.stdout
    assert created.stdout.strip().splitlines()[-1].startswith("bk_")
    listed = baas(install, tmp_path / "elsewhere", "apikey", "list")
    assert "backend" in listed.stdout, listed.stderr
    assert "data directory" in listed.stderr


def test_baas_data_dir_overrides_the_default(install, tmp_path):
    env = servers.server_env(tmp_path / "chosen")
    listed = subprocess.run(
        [str(install / ".venv" / "bin" / "python"), "-m", "baas.cli", "apikey", "list"],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert f"baas: data directory {tmp_path / 'chosen'}" in listed.stderr
    assert (tmp_path / "chosen" / "data.sqlite3").exists()
