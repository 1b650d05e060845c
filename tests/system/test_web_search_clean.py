"""Search result cards in a real browser: clean text with the query terms marked, and
repeated passages collapsed into one card that says where else they are.

Pins a result that used to show Markdown: RIPE NCC's answer on Action Line C5 is stored as
``**Promoting Cybersecurity and Trust (C5):**``; the card shows it without the asterisks.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from nlp.config import PROJECT_ROOT
from tests.servers import ServerProcess
from tests.system.test_web import TOKEN, shot
from tests.webhelp import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs /usr/bin/chromium (apt-get install -y chromium)"),
]

HEADING = "Promoting Cybersecurity and Trust (C5):"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process = ServerProcess(tmp_path_factory.mktemp("web-clean-home"), WSIS_API_TOKEN=TOKEN,
                            WSIS_CORPUS_DIR=str(PROJECT_ROOT / "corpus/wsis20"))
    try:
        yield process.start().base
    finally:
        process.stop()


def _search(page, query: str) -> object:
    page.goto("/")
    page.wait_for_selector("body[data-ready='true']")
    page.select_option("#mode", "lexical")  # exact words: the fake embedder has no meaning
    page.fill("#q", query)
    page.click("#search-button")
    page.wait_for_selector(".result")
    return page.locator(".result", has_text=HEADING)


def test_cards_show_clean_text_with_terms_marked_and_collapse_repeats(server: str) -> None:
    from playwright.sync_api import sync_playwright

    query = "promoting cybersecurity and trust"
    api = httpx.post(f"{server}/v1/search", json={"query": query, "mode": "lexical", "k": 10},
                     timeout=60).json()["results"]
    stored = next(r for r in api if HEADING in r["clean_text"])
    assert f"**{HEADING}**" in stored["text"]  # the stored text keeps its marks (offsets)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(base_url=server, viewport={"width": 1280, "height": 900})
            card = _search(page, query)
            assert card.count() == 1
            shown = card.locator(".passage").inner_text()
            assert HEADING in shown and "**" not in shown
            texts = page.locator(".result .passage").all_inner_texts()
            assert texts and not any("**" in t or "##" in t or "](" in t for t in texts)
            marks = {m.lower() for m in card.locator("mark").all_inner_texts()}
            assert {"promoting", "cybersecurity", "trust"} <= marks
            assert card.locator(".also-in").count() == 0

            # An upload that repeats the passage: still one card, which names the copy.
            copy = f"Compilation of inputs\n\n{stored['text']}\n".encode()
            response = httpx.post(f"{server}/v1/documents", files={"file": ("copy.md", copy)},
                                  data={"organization": "Compiler"},
                                  headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120)
            assert response.status_code == 201, response.text
            card = _search(page, query)
            assert card.count() == 1
            assert card.locator(".also-in").inner_text().startswith(
                "Also in 1 other document: ")
            shot(page, "search-clean-text")
        finally:
            browser.close()
