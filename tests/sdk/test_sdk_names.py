"""The JavaScript and Python SDKs name the same operation the same way.

Each public method or property of a JS class, in snake_case, is a public member of the
Python class of the same role, and the reverse; the few members that exist in one language
only are listed here with the reason.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SDK = Path(__file__).resolve().parents[2] / "sdk"

# (JS file, JS class, Python module, Python class)
PAIRS = [
    ("client.js", "BaasClient", "client.py", "Client"),
    ("auth.js", "Auth", "auth.py", "Auth"),
    ("records.js", "RecordCollection", "records.py", "RecordCollection"),
    ("schema.js", "Collections", "schema.py", "Collections"),
    ("schema.js", "Schema", "schema.py", "Schema"),
    ("files.js", "Files", "files.py", "Files"),
    ("realtime.js", "Realtime", "realtime.py", "Realtime"),
    ("realtime.js", "Channel", "realtime.py", "Channel"),
    ("realtime.js", "Subscription", "realtime.py", "Subscription"),
    ("push.js", "Push", "push.py", "Push"),
]

ONLY_JS = {
    # Token storage in JS may be asynchronous (React Native's AsyncStorage): await it first.
    ("Auth", "ready"),
    # A browser's service worker subscription (Python has no browser).
    ("Push", "registerWebPush"),
}
ONLY_PY = {
    # requests.Session needs closing; fetch has nothing to close.
    ("Client", "close"),
    # The typed variant of request() for a JSON object body (JS has no static types to narrow).
    ("Client", "request_object"),
}
# Words a language reserves: `import` is a keyword in Python.
PY_SPELLING = {"import": "import_"}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def js_members(file: str, cls: str) -> set[str]:
    """Public methods and getters of one class in a JS module (two-space indented bodies)."""
    source = (SDK / "js" / "src" / file).read_text()
    body = re.search(rf"^export class {cls}\b.*?^}}", source, re.S | re.M)
    assert body, f"class {cls} not found in {file}"
    names = re.findall(
        r"^  (?:static )?(?:get |async \*?|\*)?([A-Za-z]\w*)\(", body.group(0), re.M
    )
    return {n for n in names if n != "constructor"}


def py_members(file: str, cls: str) -> set[str]:
    tree = ast.parse((SDK / "python" / "baas_client" / file).read_text())
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    return {
        n.name
        for n in node.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        and not n.name.startswith("_")
    }


@pytest.mark.parametrize("js_file,js_cls,py_file,py_cls", PAIRS)
def test_both_sdks_name_every_operation_alike(js_file, js_cls, py_file, py_cls):
    js = {
        PY_SPELLING.get(snake(n), snake(n))
        for n in js_members(js_file, js_cls)
        if (js_cls if js_cls != "BaasClient" else "Client", n) not in ONLY_JS
        and (py_cls, n) not in ONLY_JS
    }
    py = {n for n in py_members(py_file, py_cls) if (py_cls, n) not in ONLY_PY}
    assert js, f"no members read from {js_file}:{js_cls}"
    assert sorted(js - py) == [], f"only in JS {js_cls}"
    assert sorted(py - js) == [], f"only in Python {py_cls}"


def test_both_clients_hang_the_same_areas_off_the_client():
    """`client.auth`, `client.files`, ...: the same attribute holds the same class."""
    js = re.findall(
        r"^    this\.(\w+) = new (\w+)\(this\b",
        (SDK / "js" / "src" / "client.js").read_text(),
        re.M,
    )
    py = re.findall(
        r"^        self\.(\w+) = (\w+)\(self\b",
        (SDK / "python" / "baas_client" / "client.py").read_text(),
        re.M,
    )
    assert ("files", "Files") in js
    assert sorted(js) == sorted(py)
