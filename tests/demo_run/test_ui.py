"""The demo's instance in Dagster's UI, seen through a real browser (headless Chromium).

`dagster-webserver` serves the demo's home as `make ui` would; Playwright drives the
distribution's Chromium (Playwright cannot download its own browsers offline). Each test saves
a screenshot to ``test-artifacts/ui/`` so a person can see what was asserted.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from healthex_pipeline.processes import free_port, running_process
from healthex_pipeline.settings import CONNECTORS
from tests.demo_run.harness import BIN, REPO, DemoRun, demo_env

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps calling home on a closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "test-artifacts" / "ui"
LOAD_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's Chromium; in CI (CI=true) its absence fails, elsewhere it skips."""
    if CHROMIUM.exists():
        return CHROMIUM
    reason = f"{CHROMIUM} missing: `.ci/chromium.sh` (as root) installs Debian's chromium"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def webserver(demo_run: DemoRun) -> Iterator[str]:
    """`dagster-webserver` on the demo's instance and workspace, until the module ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port)]
    argv += ["-w", str(REPO / "workspace.yaml")]
    env = demo_env(demo_run.home, demo_run.tmpdir)
    with running_process(argv, f"{url}/server_info", env, startup_seconds=180.0):
        yield url


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, webserver: str) -> Iterator[Page]:
    """A page at 1600 x 1000 with Dagster's first-visit newsletter dialog dismissed."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, base_url=webserver)
    context.set_default_timeout(LOAD_TIMEOUT_MS)
    opened = context.new_page()
    opened.goto("/")
    # A Dagster that shows no such dialog needs no dismissing.
    with contextlib.suppress(PlaywrightTimeoutError):
        opened.get_by_role("button", name="Skip").click(timeout=10_000)
    yield opened
    context.close()


def _screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path


def test_asset_graph_shows_curated_tables_and_their_lineage(page: Page) -> None:
    page.goto("/locations/healthex_pipeline/asset-groups/curated")
    for table in ("lab_results", "immunizations", "encounters"):
        expect(page.get_by_text(table, exact=True).first).to_be_visible()
    # The group's graph draws each table's staging views and what reads the table, and once the
    # instance's data has loaded, each table's latest checks.
    expect(page.get_by_text("observation", exact=True).first).to_be_visible()
    expect(page.get_by_text("records_ready", exact=True).first).to_be_visible()
    expect(page.get_by_text("3 / 3 Passed").first).to_be_visible()
    _screenshot(page, "curated-asset-graph")

    page.goto("/assets/lab_results?view=lineage")
    for node in ("lab_results", "observation", "records_ready", "serving_tables"):
        expect(page.get_by_text(node, exact=True).first).to_be_visible()
    edges = page.locator("svg path")
    expect(edges.first).to_be_attached()
    _screenshot(page, "lab-results-lineage")
    assert edges.count() >= 3, f"lab_results' lineage draws {edges.count()} edges"


def test_partitioned_asset_shows_user_by_connector_partitions(
    page: Page, demo_run: DemoRun
) -> None:
    page.goto("/assets/lab_results?view=partitions")

    expect(page.get_by_placeholder("Filter by user…")).to_be_visible()
    expect(page.get_by_placeholder("Filter by connector…")).to_be_visible()
    for connector in CONNECTORS:
        expect(page.get_by_text(connector, exact=True).first).to_be_visible()
    users, connectors = len(demo_run.user_keys()), len(CONNECTORS)
    expect(page.get_by_text(f"{users * connectors} Partitions")).to_be_visible()
    shown = page.locator("body").inner_text()
    _screenshot(page, "lab-results-partitions")
    absent = [key for key in demo_run.user_keys() if key not in shown]
    assert not absent, f"user partitions not shown: {absent}"


def test_asset_check_result_is_visible(page: Page) -> None:
    page.goto("/assets/lab_results?view=checks")

    expect(page.get_by_text("contract", exact=True).first).to_be_visible()
    expect(page.get_by_text("Evaluation result")).to_be_visible()
    expect(page.get_by_text("Passed", exact=True).first).to_be_visible()
    _screenshot(page, "lab-results-checks")
