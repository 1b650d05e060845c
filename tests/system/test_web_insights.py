"""The review-insights page in a real browser (Playwright, the system Chromium) over the five
founding documents: each view loads, its numbers match the API, and the XLSX download opens.

Set up like tests/system/test_web.py (uvicorn subprocess, fake embedder, zero-shot taggers);
screenshots go to tests/artifacts/insights-*.png.
"""

from __future__ import annotations

import io
import json
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from nlp.config import PROJECT_ROOT
from tests.servers import ServerProcess
from tests.system.test_web import TOKEN, expected_errors, shot
from tests.webhelp import CHROMIUM

VIEWPORT_WIDTH = 1400  # the matrix is wide

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs /usr/bin/chromium (apt-get install -y chromium)"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """uvicorn serving create_app() from a fresh home; yields its base URL."""
    process = ServerProcess(tmp_path_factory.mktemp("insights-home"), WSIS_API_TOKEN=TOKEN,
                            WSIS_CORPUS_DIR=str(PROJECT_ROOT / "corpus/wsis20"))
    try:
        yield process.start().base
    finally:
        process.stop()


def api(server: str, path: str, **params) -> dict:
    query = urllib.parse.urlencode(params, doseq=True)
    with urllib.request.urlopen(f"{server}{path}?{query}", timeout=60) as response:
        return json.loads(response.read())


def open_view(page, view: str) -> None:
    page.goto(f"/insights#{view}")
    page.wait_for_selector("body[data-ready='true']")
    page.wait_for_selector(f"#{view}[data-loaded='true']", timeout=60_000)


def test_matrix_heatmap_cells_sorting_and_filters(page, server: str) -> None:
    open_view(page, "matrix")
    matrix = api(server, "/v1/insights/matrix", key="action_lines")
    rows = page.locator("#matrix tbody tr")
    assert rows.count() == 5
    assert page.locator("#matrix thead th.label-head").count() == len(matrix["labels"])
    shown = int(page.locator("#matrix td.cell.some").count())
    assert shown == sum(1 for r in matrix["rows"] for c in r["counts"] if c)
    # Click the fullest cell: its passages are listed.
    best = max(((r, j) for r in matrix["rows"] for j in range(len(r["counts"]))),
               key=lambda rj: rj[0]["counts"][rj[1]])
    row, j = best
    label = matrix["labels"][j]["id"]
    page.click(f"#matrix tr[data-row='{row['id']}'] td[data-label='{label}']")
    page.wait_for_selector("#cell .passage")
    assert page.locator("#cell .passage").count() == row["counts"][j]
    assert f"{row['counts'][j]} of {row['passages']} passages" in page.inner_text("#cell")
    shot(page, "insights-matrix")
    # Sort by that label: the fullest row comes first.
    page.click(f"#matrix th.label-head[data-label='{label}'] button")
    assert page.locator("#matrix tbody tr").first.get_attribute("data-row") == row["id"]
    # Filter by kind, then group by organisation, then switch to SDG goals.
    page.select_option("#i-kind", "outcome")
    page.wait_for_function("() => document.querySelectorAll('#matrix tbody tr').length === 2")
    page.select_option("#i-kind", "")
    page.select_option("#i-group", "organization")
    page.wait_for_selector("#matrix tbody tr[data-row='ITU']")
    page.select_option("#i-key", "sdgs")
    page.wait_for_function("() => document.querySelectorAll('#matrix thead th.label-head')"
                           ".length === 17")
    assert not expected_errors(page.problems), page.problems


def test_gaps_list_labels_addressed_by_at_most_one(page, server: str) -> None:
    open_view(page, "gaps")
    gaps = api(server, "/v1/insights/gaps", key="action_lines")["gaps"]
    listed = page.locator("#gaps tbody tr")
    assert listed.count() == len(gaps)
    if gaps:
        assert listed.first.get_attribute("data-label") == gaps[0]["label"]
    page.select_option("#gap-by", "organization")
    by_org = api(server, "/v1/insights/gaps", key="action_lines", by="organization")["gaps"]
    page.wait_for_function(f"() => document.querySelectorAll('#gaps tbody tr').length === "
                           f"{len(by_org)} && document.querySelector('#gaps thead').textContent"
                           f".includes('Organisations')")
    shot(page, "insights-gaps")
    assert not expected_errors(page.problems), page.problems


def test_themes_group_passages_of_several_documents(page, server: str) -> None:
    page.goto("/insights#themes")
    page.wait_for_selector("body[data-ready='true']")
    page.select_option("#theme-similarity", "0.35")
    page.click("#themes-button")
    page.wait_for_function("() => document.querySelector('#themes-status').textContent"
                           ".includes('theme(s) across')")
    expected = api(server, "/v1/insights/themes", similarity=0.35)
    page.wait_for_function(f"() => document.querySelectorAll('#themes .theme').length === "
                           f"{len(expected['themes'])}")
    assert expected["themes"], expected
    first = page.locator("#themes .theme").first
    assert first.locator("h2").inner_text() == expected["themes"][0]["label"]
    docs = len(expected["themes"][0]["documents"])
    assert f"from {docs} documents" in first.locator(".meta").first.inner_text() and docs >= 2
    first.locator("summary").click()
    assert first.locator(".passage").count() == len(expected["themes"][0]["passages"])
    shot(page, "insights-themes")
    assert not expected_errors(page.problems), page.problems


def test_compare_two_documents(page, server: str) -> None:
    open_view(page, "compare")
    a = page.input_value("#compare-a")
    b = page.input_value("#compare-b")
    body = api(server, "/v1/insights/compare", a=a, b=b, key="action_lines")
    assert page.locator("#compare .profile tbody tr").count() == len(body["profile"])
    assert page.locator("#compare .pair").count() == len(body["pairs"]) > 0
    assert f"{body['profile_similarity']:.2f}" in page.inner_text("#compare")
    shot(page, "insights-compare")
    assert not expected_errors(page.problems), page.problems


def test_crosswalk_from_action_line_to_commitments(page, server: str) -> None:
    open_view(page, "crosswalk")
    page.select_option("#crosswalk-line", "C2")
    walk = api(server, "/v1/insights/crosswalk", action_line="C2")
    total = 1 + len(walk["targets"]) + len(walk["commitments"]) + len(walk["sections"])
    assert [n["id"] for n in walk["sections"]] == ["GDC-1.1"]  # C2's own GDC section
    page.wait_for_function(f"() => document.querySelectorAll('#crosswalk .node').length === "
                           f"{total}"
                           " && document.querySelector('#crosswalk .node').dataset.label "
                           "=== 'C2'")
    target = walk["targets"][0]
    node = page.locator(f"#crosswalk .node[data-label='{target['id']}']").first
    assert f"{target['passages']} passage(s)" in node.text_content()
    section = page.locator("#crosswalk .node[data-label='GDC-1.1']").first
    assert f"{walk['sections'][0]['passages']} passage(s)" in section.text_content()
    page.locator("#crosswalk .node:visible").first.locator("summary").first.click()
    shot(page, "insights-crosswalk")
    assert not expected_errors(page.problems), page.problems


def test_xlsx_download_from_the_page(page, server: str) -> None:
    from openpyxl import load_workbook

    open_view(page, "matrix")
    with page.expect_download() as info:
        page.click("#export-xlsx")
    book = load_workbook(io.BytesIO(info.value.path().read_bytes()), read_only=True)
    assert book.sheetnames == ["Matrix", "Gaps", "Themes", "Compare", "Cross-walk"]
    matrix = api(server, "/v1/insights/matrix", key="action_lines")
    rows = list(book["Matrix"].iter_rows(values_only=True))[1:]
    assert [list(r[7:]) for r in rows] == [r["shares"] for r in matrix["rows"]]
    with page.expect_download() as info:
        page.click("#export-jsonl")
    lines = info.value.path().read_text(encoding="utf-8").splitlines()
    assert len(lines) == sum(r["passages"] for r in matrix["rows"])


def test_main_page_links_to_the_insights(page) -> None:
    page.goto("/")
    page.click("#insights-link")
    page.wait_for_selector("body[data-ready='true'] #matrix[data-loaded='true']")
    assert page.url.endswith("/insights#matrix")
