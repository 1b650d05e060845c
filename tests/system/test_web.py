"""The web page in a real browser: Playwright driving the system Chromium against uvicorn.

The server runs in a subprocess on a free port with a temporary WSIS_HOME, the fake embedder
(WSIS_EMBEDDING_MODEL=hash:256) and a known token. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from nlp.config import PROJECT_ROOT
from tests.servers import ServerProcess
from tests.webhelp import CHROMIUM

TOKEN = "web-test-token-0123456789"
ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs /usr/bin/chromium (apt-get install -y chromium)"),
]


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """uvicorn serving create_app() from a fresh home; yields its base URL."""
    process = ServerProcess(tmp_path_factory.mktemp("web-home"), WSIS_API_TOKEN=TOKEN,
                            WSIS_CORPUS_DIR=str(PROJECT_ROOT / "corpus/wsis20"))
    try:
        yield process.start().base
    finally:
        process.stop()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def open_page(page, tab: str | None = None, with_token: bool = False) -> None:
    page.goto("/")
    if with_token:
        page.evaluate("t => localStorage.setItem('wsis-lens-token', t)", TOKEN)
        page.reload()
    page.wait_for_selector("body[data-ready='true']")
    if tab:
        page.click(f"#tab-{tab}")


def expected_errors(problems: list[str]) -> list[str]:
    """Console errors that are not the deliberate 4xx answers of a test."""
    return [p for p in problems if "status of 4" not in p]


# --------------------------------------------------------------------------- tests


def test_search_highlights_terms_and_finds_similar_commitments(page, server: str) -> None:
    open_page(page)
    assert "passages" in page.inner_text("#status")
    page.click(".example:has-text('gender digital divide')")  # a suggested query runs at once
    page.wait_for_selector("#search-summary:has-text('gender digital divide')")
    assert page.input_value("#q") == "gender digital divide" and not page.is_visible("#examples")
    page.fill("#q", "connect every school to the internet")
    page.click("#search-button")
    page.wait_for_selector(".result")
    results = page.locator(".result")
    assert results.count() == 10
    marks = [m.lower() for m in page.locator(".result mark").all_inner_texts()]
    assert any(m.startswith("school") for m in marks)
    assert "the" not in marks and "to" not in marks  # stop words are not highlighted
    assert page.locator(".result .chip").count() > 0
    assert "for “connect every school" in page.inner_text("#search-summary")

    first = results.first
    source_title = first.locator(".result-title").first.inner_text()
    first.locator(".similar-button").click()
    page.wait_for_selector(".similar-group")
    groups = first.locator(".similar-group")
    assert groups.count() >= 1
    assert source_title not in groups.locator(".result-title").all_inner_texts()
    shot(page, "search")

    # Filters: one organisation only.
    page.click("#filters summary")
    page.select_option("#f-organization", "ITU")
    page.click("#search-button")
    # The old list stays until the new one replaces it: wait for the filtered list itself.
    page.wait_for_function("""() => {
        const metas = [...document.querySelectorAll('.result > .result-head .meta')];
        return metas.length > 0 && metas.every((m) => m.textContent.startsWith('ITU ·'));
    }""")
    metas = page.locator(".result > .result-head .meta").all_inner_texts()
    assert metas and all(m.startswith("ITU ·") for m in metas)
    assert not expected_errors(page.problems), page.problems


def test_tagging_shows_evidence_and_records_feedback(page, server: str) -> None:
    hits = _post_json(f"{server}/v1/search", {"query": "security of networks", "k": 50})
    hit, key = next((h, k) for k in ("action_lines", "sdgs", "gdc_commitments", "gdc")
                    for h in hits["results"] if h["tags"][k])
    label = hit["tags"][key][0]["label"]
    suggestion = f".scheme[data-key='{key}'] .suggestion[data-label='{label}']"
    open_page(page, "tag")
    page.fill("#tag-text", hit["text"])
    page.click("#tag-button")
    page.wait_for_selector(".suggestion")
    assert page.locator(suggestion).count() == 1
    assert page.locator("#your-text mark.evidence").count() >= 1

    # Without a token, a judgement asks for one instead of failing silently.
    page.locator(".suggestion .accept").first.click()
    page.wait_for_selector("#token-dialog[open]")
    page.fill("#token-input", TOKEN)
    page.click("#token-save")
    assert page.inner_text("#token-button") == "Access token ✓"

    page.locator(suggestion).locator(".accept").click()
    page.wait_for_selector(f"{suggestion} .accept[aria-pressed='true']")
    other = page.locator(f".suggestion:not([data-label='{label}'])").first
    other.locator(".reject").click()
    other.locator(".reject[aria-pressed='true']").wait_for()
    page.select_option("#add-label-select", "C7.e-learning")
    page.click("#add-label-button")
    page.wait_for_selector("#toast:has-text('Added C7.e-learning')")
    page.click("#tag-similar-button")
    page.wait_for_selector(".similar-text .similar-group")
    assert hit["title"] in page.locator(".similar-text .result-title").all_inner_texts()
    shot(page, "tagging")

    status, body = _get(f"{server}/v1/feedback")
    feedback = json.loads(body)["feedback"]
    assert status == 200
    actions = {(f["label"], f["action"]) for f in feedback}
    assert (label, "accept") in actions and ("C7.e-learning", "add") in actions
    assert any(f["action"] == "reject" for f in feedback)
    assert all(f["text"] == hit["text"] for f in feedback)
    assert not expected_errors(page.problems), page.problems


def test_upload_report_chart_and_csv(page, server: str, tmp_path: Path) -> None:
    document = tmp_path / "broadband-plan.md"
    document.write_text(
        "# National broadband plan\n\n"
        "We will connect every school and health centre to affordable broadband by 2030. "
        "Teachers will receive training in digital skills, and rural libraries will offer "
        "public internet access.\n\n"
        "Cybersecurity agencies will protect critical infrastructure and share incident data "
        "with regional partners. Personal data will be protected by an independent "
        "regulator.\n", encoding="utf-8")
    open_page(page, "documents", with_token=True)
    before = page.locator("#documents tbody tr").count()
    page.set_input_files("#u-file", str(document))
    page.fill("#u-title", "National broadband plan")
    page.fill("#u-organization", "Ministry of ICT")
    page.fill("#u-kind", "plan")
    page.fill("#u-date", "2025-05")
    page.click("#upload-button")
    page.wait_for_selector("#report svg.chart")
    assert "Added “National broadband plan”" in page.inner_text("#upload-status")
    assert page.locator("#documents tbody tr").count() == before + 1
    assert page.locator("#report svg.chart rect").count() >= 1
    assert page.locator("#report .strongest blockquote").count() >= 1
    shot(page, "upload-report")

    with page.expect_download() as info:
        page.click("#csv-button")
    csv_text = Path(info.value.path()).read_text(encoding="utf-8")
    assert csv_text.startswith("doc_id,title,passage_id")
    assert "National broadband plan" in csv_text

    # A file that is not a document is refused with the server's reason.
    bad = tmp_path / "picture.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    page.set_input_files("#u-file", str(bad))
    page.click("#upload-button")
    page.wait_for_selector("#upload-status:has-text('Not added')")
    assert "unsupported" in page.inner_text("#upload-status")
    shot(page, "upload-refused")
    assert not expected_errors(page.problems), page.problems


def test_page_uses_only_local_assets_and_passes_basic_accessibility(page, server: str) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    open_page(page)
    assert requests and all(url.startswith((server, "data:"))
                            for url in requests), requests
    for field in page.locator("input:not([type=hidden]), select, textarea").all():
        field_id = field.get_attribute("id")
        labelled = field.get_attribute("aria-label") or field.evaluate(
            "el => !!el.closest('label') || !!document.querySelector(`label[for='${el.id}']`)")
        assert labelled, field_id
    page.keyboard.press("Tab")  # the skip link, then the header: insights link, token button
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "insights-link"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") in {"token-button", "tab-search"}
    page.focus("#tab-search")
    page.keyboard.press("ArrowRight")
    assert page.get_attribute("#tab-tag", "aria-selected") == "true"
    assert page.is_visible("#tag-text")
    assert not expected_errors(page.problems), page.problems


def test_reviewing_passage_tags_and_deleting_a_document(page, server: str) -> None:
    import httpx

    open_page(page, with_token=True)
    page.fill("#q", "security of networks and trust")
    page.click("#search-button")
    page.wait_for_selector(".result .review-button")
    card = page.locator(".result").filter(has=page.locator(".chip")).first
    passage_id = card.get_attribute("data-passage")
    card.locator(".review-button").click()
    card.locator(".review .suggestion .accept").first.click()
    card.locator(".review .accept[aria-pressed='true']").wait_for()
    card.locator(".review .add-label-select").select_option("C11")
    card.locator(".review .add-label-button").click()
    page.wait_for_selector("#toast:has-text('Added C11')")
    shot(page, "review-passage-tags")
    feedback = httpx.get(f"{server}/v1/feedback",
                         params={"passage_id": passage_id}).json()["feedback"]
    assert {f["action"] for f in feedback} == {"accept", "add"}
    assert all(f["passage_id"] == passage_id for f in feedback)

    uploaded = httpx.post(f"{server}/v1/documents", headers={"Authorization": f"Bearer {TOKEN}"},
                          files={"file": ("short-lived.txt", (b"Quantum networks will need new "
                                          b"standards. Spectrum policy must keep up."))},
                          data={"title": "Short-lived note"}).json()["document"]
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#tab-documents")
    row = page.locator(f"#documents tr[data-doc='{uploaded['id']}']")
    row.wait_for()
    row.locator("button.danger").click()
    row.wait_for(state="detached")
    assert httpx.get(f"{server}/v1/documents/{uploaded['id']}").status_code == 404
    assert not expected_errors(page.problems), page.problems


def test_api_docs_render_offline(page, server: str) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto("/docs")
    page.wait_for_selector(".swagger-ui .opblock")
    assert page.locator(".swagger-ui .opblock").count() >= 14
    assert all(url.startswith((server, "data:")) for url in requests), requests
    shot(page, "api-docs")


def test_retraining_and_feedback_export_from_the_page(page, server: str) -> None:
    open_page(page, "documents", with_token=True)
    page.wait_for_selector("#models-summary:has-text('Models:')")
    page.click("#retrain-button")
    page.wait_for_selector("#retrain-status:has-text('succeeded')", timeout=180_000)
    assert "-fb" in page.inner_text("#models-summary")  # the retrained version is in use
    with page.expect_download() as info:
        page.click("#export-csv")
    assert Path(info.value.path()).read_text(encoding="utf-8").startswith("id,created,")
    shot(page, "models")
    assert not expected_errors(page.problems), page.problems
