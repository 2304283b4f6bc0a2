"""Import the app team's hooks modules at start-up (every web, realtime, worker process).

Modules come from `BAAS_HOOKS` (dotted paths on the Python path) and from `<data
dir>/hooks/*.py` (imported as the package `baas_data_hooks`, so they may import each other
relatively; names starting with `_` are left for them to import). A module that fails to
import stops start-up with one short message naming the file, the line and the error:
a server that started without some of its hooks would accept writes they should refuse.
"""

from __future__ import annotations

import importlib
import importlib.util
import linecache
import sys
import traceback
import types
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.hooks.registry import registry

PACKAGE = "baas_data_hooks"
_SERVER = Path(__file__).resolve().parents[2]
_NOT_THEIRS = (
    "<frozen",
    str(_SERVER / "apps") + "/",
    str(_SERVER / "baas") + "/",
    sys.prefix + "/",
    sys.base_prefix + "/",
)


class HookLoadError(ImproperlyConfigured):
    """A hooks module could not be imported; the message is meant for the operator."""


def hooks_dir() -> Path:
    return Path(settings.DATA_DIR) / "hooks"


def _module_names() -> list[str]:
    names = list(getattr(settings, "BAAS_HOOKS", []) or [])
    directory = hooks_dir()
    if directory.is_dir():
        _package(directory)
        names += [
            f"{PACKAGE}.{path.stem}"
            for path in sorted(directory.glob("*.py"))
            if not path.name.startswith("_") and path.stem.isidentifier()
        ]
    return names


def _package(directory: Path) -> None:
    """The data directory's hooks folder as an importable package (no __init__.py
    needed)."""
    if PACKAGE in sys.modules:
        return
    package = types.ModuleType(PACKAGE)
    package.__path__ = [str(directory)]
    package.__file__ = None
    spec = importlib.util.spec_from_loader(PACKAGE, loader=None, is_package=True)
    spec.submodule_search_locations = [str(directory)]
    package.__spec__ = spec
    sys.modules[PACKAGE] = package


def load() -> list[str]:
    """Import every hooks module once; raises HookLoadError for the first that fails."""
    loaded = []
    for name in _module_names():
        if name in registry.modules:
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise HookLoadError(describe_failure(name, exc)) from exc
        registry.modules.append(name)
        loaded.append(name)
    return loaded


def describe_failure(name: str, exc: BaseException) -> str:
    """`hooks module x failed to import` + file:line, the line itself and the error."""
    if isinstance(exc, SyntaxError) and exc.filename:
        where, line = exc.filename, exc.lineno or 0
        error = f"SyntaxError: {exc.msg}"
    else:
        frames = traceback.extract_tb(exc.__traceback__)
        # The deepest frame in the app team's code: not importlib, not a library, not
        # this server (a decorator refusing a bad argument points at its use).
        own = [f for f in frames if not f.filename.startswith(_NOT_THEIRS)]
        frame = own[-1] if own else (frames[-1] if frames else None)
        where, line = (frame.filename, frame.lineno or 0) if frame else (name, 0)
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    source = linecache.getline(where, line).strip() if line else ""
    lines = [f"baas: hooks module {name} failed to import", f"  {where}:{line}"]
    if source:
        lines.append(f"    {source}")
    lines.append(f"  {error}")
    return "\n".join(lines)
