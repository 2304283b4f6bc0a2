"""The default data directory is fixed by the installation, never the working directory."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from baas import config


@pytest.fixture
def in_a_virtualenv(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "app" / ".venv"))
    monkeypatch.setattr(sys, "base_prefix", "/usr")
    return tmp_path / "app"


@pytest.fixture
def outside_a_virtualenv(monkeypatch):
    monkeypatch.setattr(sys, "prefix", "/usr")
    monkeypatch.setattr(sys, "base_prefix", "/usr")


def test_in_a_virtualenv_the_data_lives_beside_it(in_a_virtualenv, monkeypatch):
    monkeypatch.delenv("BAAS_DATA_DIR", raising=False)
    assert config.default_data_dir() == in_a_virtualenv.resolve() / "baas_data"


def test_outside_a_virtualenv_the_data_lives_in_the_users_data_directory(
    outside_a_virtualenv, monkeypatch, tmp_path
):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert config.default_data_dir() == tmp_path / "xdg" / "baas"


def test_without_xdg_data_home_it_is_under_the_home_directory(
    outside_a_virtualenv, monkeypatch, tmp_path
):
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config.default_data_dir() == tmp_path / ".local" / "share" / "baas"


def test_a_relative_xdg_data_home_is_ignored_as_the_spec_says(
    outside_a_virtualenv, monkeypatch, tmp_path
):
    monkeypatch.setenv("XDG_DATA_HOME", "relative/dir")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config.default_data_dir() == tmp_path / ".local" / "share" / "baas"


def test_the_working_directory_does_not_move_the_default(
    in_a_virtualenv, monkeypatch, tmp_path
):
    monkeypatch.delenv("BAAS_DATA_DIR", raising=False)
    first = config.data_dir()
    monkeypatch.chdir(tmp_path)
    assert config.data_dir() == first
    assert not (tmp_path / "baas_data").exists()


def test_baas_data_dir_still_overrides(in_a_virtualenv, monkeypatch, tmp_path):
    monkeypatch.setenv("BAAS_DATA_DIR", str(tmp_path / "elsewhere"))
    assert config.data_dir() == tmp_path / "elsewhere"
    assert Path(tmp_path / "elsewhere").is_dir()
