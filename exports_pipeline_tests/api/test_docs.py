"""/docs and /redoc work offline: every asset comes from the API itself, and a real headless
Chromium with no route to any other host renders the create, status and download operations."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from exports_pipeline.api.app import create_app
from exports_pipeline.settings import Settings
from exports_pipeline_tests.support import browser
from exports_pipeline_tests.support.browser import headless_chromium
from exports_pipeline_tests.support.served import cli_env, served_api

EXPORTS = "/public-api/v1/events/exports"
WEBHOOK_ENDPOINTS = "/public-api/v1/webhook-endpoints"
OPERATIONS = [  # in the order Swagger UI shows them (by tag, then path)
    ("POST", EXPORTS, "Create an event export"),
    ("GET", EXPORTS, "List the space's event exports, newest first"),
    ("GET", f"{EXPORTS}/{{export_id}}", "Get the status of an event export"),
    ("POST", f"{EXPORTS}/{{export_id}}/cancel", "Cancel a queued or processing event export"),
    ("GET", f"{EXPORTS}/{{export_id}}/download", "Download an export file (local storage)"),
    ("GET", WEBHOOK_ENDPOINTS, "List webhook endpoints"),
    ("POST", WEBHOOK_ENDPOINTS, "Create a webhook endpoint"),
    ("DELETE", f"{WEBHOOK_ENDPOINTS}/{{endpoint_id}}", "Delete a webhook endpoint"),
]


class _Assets(HTMLParser):
    """The URLs a page's tags load (`src` of scripts and images, `href` of links)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


@pytest.mark.parametrize(
    ("page", "expected_assets"),
    [
        (
            "/docs",
            {
                "/static-offline-docs/swagger-ui.css",
                "/static-offline-docs/swagger-ui-bundle.js",
                "/static-offline-docs/favicon.png",
            },
        ),
        (
            "/redoc",
            {"/static-offline-docs/redoc.standalone.js", "/static-offline-docs/favicon.png"},
        ),
    ],
)
def test_the_docs_pages_load_their_assets_from_the_api(
    tmp_path: Path, page: str, expected_assets: set[str]
) -> None:
    with TestClient(create_app(Settings(home=tmp_path))) as client:
        html = client.get(page)
        assert html.status_code == 200
        parser = _Assets()
        parser.feed(html.text)
        assert set(parser.urls) == expected_assets
        for url in parser.urls:
            asset = client.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 1000, url


def test_the_docs_add_nothing_to_the_openapi_document(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(home=tmp_path))) as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert sorted(paths) == sorted({path for _, path, _ in OPERATIONS} | {"/healthz"})


@pytest.fixture
def api_url(store_engine: sa.Engine, store_url: str, tmp_path: Path) -> Iterator[str]:
    """A real `exports-pipeline api` process on a migrated store."""
    with served_api(cli_env(store_url, tmp_path / "home"), tmp_path / "api.log") as url:
        yield url


@pytest.mark.integration
def test_swagger_ui_renders_the_operations_offline(api_url: str, tmp_path: Path) -> None:
    with headless_chromium() as chrome:
        chrome.get(f"{api_url}/docs")
        WebDriverWait(chrome, 30).until(
            lambda b: len(b.find_elements(By.CSS_SELECTOR, ".opblock")) >= len(OPERATIONS),
            message="Swagger UI showed no operations at /docs (were its assets loaded?)",
        )
        shown = [
            (
                block.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text,
                block.find_element(By.CSS_SELECTOR, "[data-path]").get_attribute("data-path"),
                block.find_element(By.CSS_SELECTOR, ".opblock-summary-description").text,
            )
            for block in chrome.find_elements(By.CSS_SELECTOR, ".opblock")
        ]
        title = chrome.find_element(By.CSS_SELECTOR, ".info .title").text
        screenshot = tmp_path / "docs.png"
        chrome.save_screenshot(str(screenshot))
    print(f"screenshot of /docs: {screenshot}")
    assert title.startswith("Event Export API")
    assert shown == [*OPERATIONS, ("GET", "/healthz", "Healthz")]


@pytest.mark.integration
def test_redoc_renders_the_operations_offline(api_url: str, tmp_path: Path) -> None:
    with headless_chromium() as chrome:
        chrome.get(f"{api_url}/redoc")
        WebDriverWait(chrome, 30).until(
            lambda b: b.find_elements(By.CSS_SELECTOR, ".api-content h2"),
            message="ReDoc showed no operations at /redoc (was its script loaded?)",
        )
        text = chrome.find_element(By.TAG_NAME, "body").text
        screenshot = tmp_path / "redoc.png"
        chrome.save_screenshot(str(screenshot))
    print(f"screenshot of /redoc: {screenshot}")
    assert "Event Export API" in text
    for method, path, summary in OPERATIONS:
        assert summary in text
        assert f"{method}\n{path}" in text


@pytest.mark.parametrize(
    ("ci", "outcome"),
    [("", pytest.skip.Exception), ("true", pytest.fail.Exception), ("1", pytest.fail.Exception)],
)
def test_without_chromium_the_browser_tests_skip_except_in_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="no-chromium not installed"):
        browser.require_chromium()
