"""nlp.reports: per-document tag reports."""

from __future__ import annotations

import csv
import io


def test_csv_report_cells_cannot_run_as_formulas() -> None:
    from nlp.reports import report_csv

    detail = {"id": "0123456789abcdef", "title": "=HYPERLINK(\"http://evil\")", "passage_list": [
        {"id": "p-0", "index": 0, "start": 0, "end": 9, "text": "+SUM(A1:A9)",
         "tags": {"action_lines": [{"label": "C1", "score": 0.5}]}},
        {"id": "p-1", "index": 1, "start": 10, "end": 20, "text": "- a bullet stays as it is",
         "tags": None},
        {"id": "p-2", "index": 2, "start": 21, "end": 30, "text": "-2+3", "tags": None},
    ]}
    rows = list(csv.DictReader(io.StringIO(report_csv(detail, ["action_lines"]))))
    assert rows[0]["title"].startswith("'=") and rows[0]["text"] == "'+SUM(A1:A9)"
    assert rows[0]["action_lines"] == "C1 (0.50)"
    assert rows[1]["text"] == "- a bullet stays as it is"
    assert rows[2]["text"] == "'-2+3"
