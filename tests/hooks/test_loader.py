"""Loading hooks modules: from BAAS_HOOKS and <data dir>/hooks/, failures on one screen."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from apps.hooks import loader, registry

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "hooks_example.py"


@pytest.fixture
def data_dir(tmp_path, settings):
    settings.DATA_DIR = tmp_path
    (tmp_path / "hooks").mkdir()
    with registry.isolated() as fresh:
        yield tmp_path, fresh
    for name in [m for m in sys.modules if m.startswith(loader.PACKAGE)]:
        del sys.modules[name]


def test_modules_in_the_data_dir_load_with_their_relative_imports(data_dir):
    path, fresh = data_dir
    (path / "hooks" / "_shared.py").write_text("PREFIX = 'hi '\n")
    (path / "hooks" / "greet.py").write_text(
        "from baas.hooks import route\nfrom ._shared import PREFIX\n\n"
        "@route('GET', '/greet', auth='public')\ndef greet(request):\n"
        "    return {'text': PREFIX + 'there'}\n"
    )
    assert loader.load() == ["baas_data_hooks.greet"]
    assert [r.path for r in fresh.routes] == ["/greet"]
    assert loader.load() == []  # once per process


def test_modules_named_in_settings_load_too(data_dir, settings):
    settings.BAAS_HOOKS = ["tests.hooks.sample_hooks"]
    _, fresh = data_dir
    assert loader.load() == ["tests.hooks.sample_hooks"]
    assert fresh.hooks_for("before", "create", "anything")


@pytest.mark.parametrize(
    "source, line, error",
    [
        ("x = 1\ndef broken(:\n", 2, "SyntaxError: "),
        ("import os\nvalue = os.no_such_thing\n", 2, "AttributeError: "),
        (
            "from baas.hooks import cron\n\n@cron('*/99 * * * *')\ndef f():\n    pass\n",
            3,
            "ValueError: '*/99 * * * *': the step /99 is out of range",
        ),
        (
            "from baas.hooks import before\n\n@before('upsert', 'posts')\n"
            "def f(event):\n    pass\n",
            3,
            "ValueError: action must be one of create, update, delete",
        ),
        ("import no_such_package_here\n", 1, "ModuleNotFoundError: "),
    ],
)
def test_a_module_that_fails_names_its_file_line_and_error(
    data_dir, source, line, error
):
    path, _ = data_dir
    (path / "hooks" / "bad.py").write_text(source)
    with pytest.raises(loader.HookLoadError) as failed:
        loader.load()
    message = str(failed.value)
    assert message.splitlines()[0] == (
        "baas: hooks module baas_data_hooks.bad failed to import"
    )
    assert f"{path / 'hooks' / 'bad.py'}:{line}" in message
    assert error in message
    assert len(message.splitlines()) <= 4


def test_the_documented_example_loads_and_registers_what_the_guide_says(data_dir):
    path, fresh = data_dir
    shutil.copy(EXAMPLE, path / "hooks" / "hooks_example.py")
    loader.load()
    assert [h.func.__name__ for h in fresh.hooks_for("before", "create", "posts")] == [
        "validate_post"
    ]
    assert [h.func.__name__ for h in fresh.hooks_for("after", "update", "posts")] == [
        "mail_when_published"
    ]
    assert [(r.method, r.path, r.auth) for r in fresh.routes] == [
        ("GET", "/stats", "user")
    ]
    assert [(c.expr, c.name) for c in fresh.crons] == [
        ("0 3 * * *", "unpublish-empty-posts")
    ]
