"""The explorer world (explorer_world.py) once per module, and a headless Chromium (Debian's, through its
chromedriver) for the browser tests. Where the browser must exist (CI: ``VEILPROOF_REQUIRE_BROWSER=1``,
set by ``.ci/run``, which also installs it) a missing browser fails the tests instead of skipping them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from explorer_world import ExplorerWorld, make_world

from veilproof.chain import connect


@pytest.fixture(scope="module")
def world(mlp, mlp_proof) -> Iterator[ExplorerWorld]:  # type: ignore[no-untyped-def]
    net = connect("embedded")  # its own chain: the explorer indexes it from block 0
    try:
        yield make_world(net, mlp, mlp_proof)
    finally:
        net.close()


def _browser_paths() -> tuple[str, str] | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


def _no_browser() -> None:
    why = "no chromium + chromedriver on PATH (apt-get install chromium chromium-driver)"
    if os.environ.get("VEILPROOF_REQUIRE_BROWSER"):
        pytest.fail(why + "; VEILPROOF_REQUIRE_BROWSER is set, so this fails rather than skips")
    pytest.skip(why)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Decide before any fixture is set up: the session's MLP build and the world take minutes, and
    a test that cannot get a browser should not pay for them first."""
    if item.get_closest_marker("browser") and _browser_paths() is None:
        _no_browser()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    paths = _browser_paths()
    if paths is None:
        _no_browser()
        return
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = paths[0]
    for a in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
    ):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(executable_path=paths[1]), options=opts)
    drv.set_page_load_timeout(60)
    try:
        yield drv
    finally:
        drv.quit()
