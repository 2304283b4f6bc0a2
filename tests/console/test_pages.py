"""Every page in the console's navigation, in Chromium: it renders without script errors,
axe-core finds no serious or critical violation, every visible control is reachable with
the Tab key, and the page fits a tablet's width as well as a 1280×800 screen, in both
themes. The navigation itself says which pages exist, so a page added later is checked too.
"""

from __future__ import annotations

import pytest

TABLET = {"width": 820, "height": 1180}

# Every visible, enabled control a keyboard user must be able to reach.
CONTROLS = """() => {
  const selector = 'a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]),'
    + ' select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex="-1"])';
  return [...document.querySelectorAll(selector)]
    .filter(el => el.offsetParent !== null && !el.closest('dialog:not([open])') && !el.closest('[inert]'))
    // Tab stops once in a group of radio buttons (on the checked one); arrows move inside.
    .filter(el => el.type !== 'radio' || el === (
      document.querySelector(`input[type=radio][name="${el.name}"]:checked`)
      || document.querySelector(`input[type=radio][name="${el.name}"]`)))
    .map((el, i) => { el.dataset.kbdProbe = String(i); return String(i); });
}"""


def _nav_paths(console) -> list[str]:
    return console.page.eval_on_selector_all(
        "nav.sidebar a", "links => links.map(a => a.getAttribute('href'))"
    )


def test_every_page_is_accessible_and_reachable_by_keyboard(console):
    page = console.page
    paths = _nav_paths(console)
    assert "/console/" in paths
    problems = {}
    for path in paths:
        response = console.goto(path)
        assert response.status == 200, path
        violations = console.axe()
        if violations:
            problems[path] = violations
            continue
        wanted = set(page.evaluate(CONTROLS))
        reached = set()
        # Date inputs take a Tab per part (day, month, year, ...).
        for _ in range(4 * len(wanted) + 20):
            page.keyboard.press("Tab")
            probe = page.evaluate("document.activeElement.dataset.kbdProbe || null")
            if probe is not None:
                reached.add(probe)
            if reached >= wanted:
                break
        missed = wanted - reached
        if missed:
            names = page.evaluate(
                "ids => ids.map(i => document.querySelector(`[data-kbd-probe='${i}']`).outerHTML.slice(0, 120))",
                sorted(missed),
            )
            problems[path] = {"not reachable by Tab": names}
    assert problems == {}
    assert console.errors == []


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_page_fits_a_tablet_in_both_themes(console, theme):
    page = console.page
    paths = _nav_paths(console)
    page.evaluate(f"localStorage.setItem('baas-theme', '{theme}')")
    page.set_viewport_size(TABLET)
    overflowing = {}
    for path in paths:
        console.goto(path)
        assert page.evaluate("document.documentElement.dataset.theme") == theme
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > TABLET["width"]:
            overflowing[path] = width
        if theme == "dark":
            assert console.axe() == [], path  # contrast in the dark theme too
    assert overflowing == {}
    console.screenshot(f"overview-tablet-{theme}")
    assert console.errors == []
