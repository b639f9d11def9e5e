"""The consoles are served beside the API, one origin, with where the live API is (EA1)."""
from __future__ import annotations

import requests

from tests.browser.conftest import screenshot


def test_the_consoles_are_served_at_console_with_the_live_api_s_address(platform):
    index = requests.get(f"{platform.api.url}/console/", timeout=10)
    assert index.status_code == 200 and index.headers["Content-Type"].startswith("text/html")
    config = requests.get(f"{platform.api.url}/console/config.json", timeout=10).json()
    assert config["api"] == "" and config["live"] == f"{platform.live.url}/{config['live'].rsplit('/', 1)[-1]}"
    assert requests.get(f"{platform.api.url}/console/shared/style.css", timeout=10).status_code == 200
    assert requests.get(f"{platform.api.url}/console/nothing.js", timeout=10).status_code == 404
    assert requests.get(f"{platform.api.url}/console/../template.yaml", timeout=10).status_code in (403, 404)


def test_the_console_index_renders_in_chromium(platform, new_page):
    page = new_page()
    page.goto(f"{platform.api.url}/console/")
    assert page.title() == "医院工作台"
    assert page.get_by_text("急诊工作台").is_visible()
    assert screenshot(page, "console-index").stat().st_size > 1000
