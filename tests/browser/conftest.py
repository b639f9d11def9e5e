"""The consoles in headless Chromium: Debian's chromium package (CHROMIUM, default
/usr/bin/chromium) driven by Playwright, against the consoles and the API the tests' platform
serves (make run's local runtime). Without the browser these tests skip loudly, unless
REQUIRE_BROWSER=1 (CI), where they fail. Screenshots are kept in .artefacts/screenshots/."""
from __future__ import annotations

import os
import pathlib
import shutil

import pytest

from tests.conftest import ROOT

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / ".artefacts" / "screenshots"
# The closed network refuses Chromium's own background calls: ask for none.
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--autoplay-policy=no-user-gesture-required"]
VIEWPORT = {"width": 1366, "height": 768}


@pytest.fixture(scope="module")
def own_database(platform):
    """A MariaDB database for the module alone: the consoles show what is open hospital-wide,
    so another test's cases or findings must not appear in them (whatever ran before)."""
    from tests.conftest import _use_database, new_mysql_database

    with new_mysql_database() as url:
        _use_database(url)
        yield url


@pytest.fixture(scope="session")
def chromium():
    if not pathlib.Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        reason = f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " (REQUIRE_BROWSER=1)")
        pytest.skip("!!! " + reason + " -- browser tests NOT run")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium):
    """Pages in contexts of their own (a console each: its own storage), closed afterwards."""
    contexts = []

    def make(viewport=VIEWPORT):
        context = chromium.new_context(viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai")
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> pathlib.Path:
    """Keep a picture of the page as a test artefact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
