"""Browser tests of the console: `baas serve` (as installed: the runtime-only environment)
on the profile's backing services, driven in Debian's headless Chromium by Playwright
(never a downloaded browser). One server and one browser for the whole session; each test
gets a fresh browser context, signed in as the superuser, and names its own collections.

Screenshots go to BAAS_SCREENSHOT_DIR (default: <tmp>/console-screenshots); the best of them
are copied into docs/img/ by hand.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.e2e import servers

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = Path(__file__).with_name("axe-4.11.0.min.js")
# Flags for a machine with no network beyond loopback (see the env notes in tests/README).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(
    os.environ.get("BAAS_SCREENSHOT_DIR")
    or Path(tempfile.gettempdir()) / "console-screenshots"
)


@pytest.fixture(scope="session")
def console_server(tmp_path_factory):
    """(base URL, env) of a running `baas serve` with the superuser servers.EMAIL."""
    data_dir = tmp_path_factory.mktemp("console")
    with servers.serving(data_dir) as (server, env):
        yield server.url, env


@pytest.fixture(scope="session")
def console_api(console_server):
    url, _ = console_server
    return servers.login(url, servers.EMAIL, servers.PASSWORD)


@pytest.fixture(scope="module")
def chromium():
    """Chromium for one test module. Not for the session: while Playwright's sync API is
    started, its event loop counts as running in the main thread (it waits in a greenlet),
    so Django refuses database connections and asyncio.run() fails in every later test."""
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian's chromium is missing: scripts/test installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


class Console:
    """A signed-in page plus the checks every test wants (no dialogs, no console errors)."""

    def __init__(self, page, base_url: str):
        self.page = page
        self.base_url = base_url
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", self._console_message)
        page.on("response", self._response)

    def _console_message(self, message) -> None:
        # A 4xx answer to an htmx request is a validation error shown in place, and the
        # browser logs each as "Failed to load resource": answers are judged in _response.
        if message.type == "error" and not message.text.startswith(
            "Failed to load resource"
        ):
            self.errors.append(message.text)

    def _response(self, response) -> None:
        """A missing file or a server error is a bug whatever asked for it."""
        if response.status == 404 and response.request.resource_type != "fetch":
            self.errors.append(f"404 {response.url}")
        elif response.status >= 500:
            self.errors.append(f"{response.status} {response.url}")

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def goto(self, path: str):
        response = self.page.goto(self.base_url + path)
        self.page.wait_for_load_state("networkidle")
        return response

    def sign_in(self, email: str = servers.EMAIL, password: str = servers.PASSWORD):
        self.goto("/console/login/")
        self.page.fill("#email", email)
        self.page.fill("#password", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state("networkidle")

    def settled(self) -> None:
        """htmx has swapped and settled (no wait_for_function: its polling evaluates
        code, which the page's CSP refuses)."""
        busy = "() => !!document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')"
        for _ in range(200):
            if not self.page.evaluate(busy):
                return
            self.page.wait_for_timeout(50)

    def axe(self) -> list[dict]:
        """Serious and critical accessibility violations on the current page (axe-core,
        evaluated through the DevTools protocol, which the page's CSP does not govern)."""
        self.page.evaluate(AXE.read_text())
        result = self.page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
            ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"
        )
        return result

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


@pytest.fixture
def browser_context(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    yield context
    context.close()


@pytest.fixture
def console(browser_context, console_server) -> Console:
    """A fresh page signed in to the console as the superuser."""
    url, _ = console_server
    page = browser_context.new_page()
    console = Console(page, url)
    console.sign_in()
    assert page.url.rstrip("/").endswith("/console"), page.url
    yield console
    assert console.dialogs == [], f"unexpected dialogs: {console.dialogs}"


@pytest.fixture
def anonymous_page(browser_context, console_server) -> Console:
    url, _ = console_server
    return Console(browser_context.new_page(), url)


def console_session(user):
    """An in-process Django test client signed in to the console as `user` (the session
    mark the console's own sign-in sets)."""
    from django.test import Client

    from admin_ui.access import CONSOLE_SESSION_KEY

    client = Client()
    client.force_login(user)
    session = client.session
    session[CONSOLE_SESSION_KEY] = str(user.pk)
    session.save()
    return client


@pytest.fixture
def console_client(superuser):
    """In-process: a Django test client in a console session of the superuser."""
    return console_session(superuser)


def unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(3)}"
