"""Exports of the corpus views: tables read off one report, cells neutralised, one sheet per
view, tags as JSON Lines."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import pytest

from nlp.insights import export
from nlp.insights.corpus import InsightsError
from tests.nlp.insights.synth import DOCS, PASSAGES, TAGS, synthetic_view


@pytest.fixture(scope="module")
def view(plain_taxonomy):
    corpus = synthetic_view(plain_taxonomy)
    first = next(iter(DOCS))  # an uploader's title that a spreadsheet would run
    corpus.index.documents[first] = replace(DOCS[first], title="=HYPERLINK(\"http://x\")",
                                            organization="+cmd|' /C calc'!A0")
    return corpus


def test_tables_carry_the_report_numbers_and_neutralise_cells(view) -> None:
    report = export.corpus_report(view, similarity=0.8)
    header, rows = export.view_table("matrix", report)
    assert header[7:] == [lab["id"] for lab in report["matrix"]["labels"]]
    assert [r[7:] for r in rows] == [r["shares"] for r in report["matrix"]["rows"]]
    text = export.table_csv((header, rows))
    cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
    assert "'=HYPERLINK(\"http://x\")" in cells and "'+cmd|' /C calc'!A0" in cells
    assert not any(c.startswith(("=", "+", "@")) for c in cells)
    _, themes = export.view_table("themes", report)
    assert [t[2] for t in themes] == [3, 2]  # the planted themes, largest first
    _, pairs = export.view_table("compare", report)
    assert len(pairs) == 6
    with pytest.raises(InsightsError):
        export.corpus_report(view, views=("pie",))


def test_workbook_has_one_sheet_per_view(view) -> None:
    from openpyxl import load_workbook

    report = export.corpus_report(view, similarity=0.8)
    book = load_workbook(io.BytesIO(export.report_xlsx(report)))
    assert book.sheetnames == ["Matrix", "Gaps", "Themes", "Compare", "Cross-walk"]
    values = [c.value for row in book["Matrix"].iter_rows() for c in row]
    assert "'=HYPERLINK(\"http://x\")" in values
    gaps = [row for row in book["Gaps"].iter_rows(min_row=2, values_only=True)]
    assert [(g[0], g[2]) for g in gaps] == [(g["label"], g["addressed"])
                                             for g in report["gaps"]["gaps"]]


def test_tags_jsonl_has_every_passage_with_its_predicted_labels(view) -> None:
    lines = [json.loads(line) for line in export.tags_jsonl(view)]
    assert len(lines) == len(PASSAGES)
    assert {t["label"] for t in lines[0]["tags"]["action_lines"]} == set(TAGS["action_lines"][0])
    assert [t["label"] for t in lines[5]["tags"]["sdgs"]] == ["4"]
    assert lines[2]["tags"]["action_lines"] == []


def test_compare_sheet_pairs_the_largest_documents_when_there_are_many(view, monkeypatch) -> None:
    monkeypatch.setattr(export, "COMPARE_DOCUMENTS", 2)
    report = export.corpus_report(view, views=("compare",))
    a, _, c, _ = DOCS  # A and C have three passages each; the others two
    assert report["compare"]["documents"] == 2
    assert [(p["a"]["doc_id"], p["b"]["doc_id"]) for p in report["compare"]["pairs"]] == [(a, c)]
