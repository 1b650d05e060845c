"""Browser fixtures shared by the web tests: one Chromium per module, a fresh context per test.

A test module provides its own ``server`` fixture (the base URL) and may set ``VIEWPORT_WIDTH``.
Console errors and page errors are collected on ``page.problems``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.webhelp import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture()
def page(browser, server: str, request: pytest.FixtureRequest) -> Iterator[object]:
    width = getattr(request.module, "VIEWPORT_WIDTH", 1280)
    context = browser.new_context(base_url=server, viewport={"width": width, "height": 900},
                                  accept_downloads=True)
    new_page = context.new_page()
    problems: list[str] = []
    new_page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    new_page.on("pageerror", lambda e: problems.append(str(e)))
    new_page.problems = problems
    try:
        yield new_page
    finally:
        context.close()
