"""nlp.feedback: the append-only feedback log and the jobs table, on SQLite and PostgreSQL
(``database_url`` from conftest runs each test on both; PostgreSQL skips when absent)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from nlp import feedback as fb
from nlp import jobs
from nlp.store import Store


@pytest.fixture()
def store(database_url: str) -> Store:
    opened = Store(database_url)
    yield opened
    opened.close()


def test_feedback_round_trip(store: Store) -> None:
    first = fb.add_feedback(store, text="Connect schools.", scheme="action-lines",
                            label="C7.e-learning", action="accept", passage_id="d-0001",
                            doc_id="d", score=0.7, note="yes", author="ana")
    second = fb.add_feedback(store, text="Women online.", scheme="sdgs", label="5",
                             action="add")
    assert second.id > first.id
    listed = fb.list_feedback(store)
    assert listed == [first, second]
    assert listed[0].score == pytest.approx(0.7) and listed[1].score is None
    assert fb.list_feedback(store, passage_ids=["d-0001"]) == [first]
    assert fb.list_feedback(store, limit=1) == [first]
    assert fb.count_feedback(store) == 2
    assert first.created.endswith("+00:00")


@pytest.mark.parametrize("kwargs, message", [
    ({"action": "maybe"}, "action"),
    ({"text": "  "}, "text is empty"),
    ({"label": ""}, "label is empty"),
])
def test_feedback_validation(store: Store, kwargs: dict, message: str) -> None:
    values = {"text": "t", "scheme": "sdgs", "label": "5", "action": "accept", **kwargs}
    with pytest.raises(ValueError, match=message):
        fb.add_feedback(store, **values)
    assert fb.count_feedback(store) == 0


def test_feedback_survives_reopening_and_document_deletion(database_url: str) -> None:
    from nlp.types import Document, DocumentMeta, Passage

    url = database_url
    store = Store(url)
    document = Document.from_text("Some text.", DocumentMeta(title="T"))
    passage = Passage(f"{document.id}-0000", document.id, 0, 0, 10, "Some text.")
    store.add_document(document, [passage])
    fb.add_feedback(store, text=passage.text, scheme="gdc", label="GDC-1", action="reject",
                    passage_id=passage.id, doc_id=document.id)
    store.remove_document(document.id)
    store.close()
    reopened = Store(url)
    kept = fb.list_feedback(reopened)
    assert [(k.label, k.action, k.text) for k in kept] == [("GDC-1", "reject", "Some text.")]
    reopened.close()


def test_exports(store: Store) -> None:
    fb.add_feedback(store, text='He said "yes", twice\nand again.', scheme="sdgs", label="4",
                    action="accept", score=0.5)
    fb.add_feedback(store, text="No.", scheme="sdgs", label="4", action="reject")
    records = fb.list_feedback(store)
    rows = list(csv.DictReader(io.StringIO(fb.export_feedback(records, "csv"))))
    assert [r["action"] for r in rows] == ["accept", "reject"]
    assert rows[0]["text"] == 'He said "yes", twice\nand again.'
    assert rows[1]["score"] == "" and rows[1]["passage_id"] == ""
    lines = fb.export_feedback(records, "jsonl").splitlines()
    assert [json.loads(line)["id"] for line in lines] == [r.id for r in records]
    with pytest.raises(ValueError, match="xml"):
        fb.export_feedback(records, "xml")


def test_csv_export_neutralises_formulas_like_the_document_report(store: Store) -> None:
    formula = '=HYPERLINK("http://example.invalid","click")'
    fb.add_feedback(store, text=formula, scheme="sdgs", label="4", action="accept",
                    note="+1 agreed", author="@reviewer")
    fb.add_feedback(store, text="- a bullet stays", scheme="sdgs", label="4", action="reject")
    records = fb.list_feedback(store)
    rows = list(csv.DictReader(io.StringIO(fb.export_feedback(records, "csv"))))
    assert rows[0]["text"] == "'" + formula
    assert rows[0]["note"] == "'+1 agreed" and rows[0]["author"] == "'@reviewer"
    assert rows[1]["text"] == "- a bullet stays"
    assert [r["action"] for r in rows] == ["accept", "reject"]
    # JSON Lines keeps the stored text as it is
    first = json.loads(fb.export_feedback(records, "jsonl").splitlines()[0])
    assert first["text"] == formula


def test_training_examples_keep_the_latest_judgement(store: Store) -> None:
    fb.add_feedback(store, text="Schools.", scheme="action-lines", label="C4", action="accept")
    fb.add_feedback(store, text="Schools.", scheme="action-lines", label="C4", action="reject")
    fb.add_feedback(store, text="Schools.", scheme="action-lines", label="C7", action="add")
    examples = fb.training_examples(fb.list_feedback(store))
    assert {(e["label"], e["positive"]) for e in examples} == {("C4", False), ("C7", True)}
    assert all(e["source"].startswith("feedback:") for e in examples)


def test_training_examples_are_readable_by_the_trainer(store: Store, tmp_path: Path) -> None:
    from nlp.labelled import read_feedback

    fb.add_feedback(store, text="Schools.", scheme="action-lines", label="C4", action="add")
    fb.add_feedback(store, text="Water.", scheme="sdgs", label="6", action="reject")
    path = tmp_path / "feedback.jsonl"
    path.write_text("".join(json.dumps(e) + "\n"
                            for e in fb.training_examples(fb.list_feedback(store))))
    read = read_feedback(path)
    assert [(scheme, ex.label, ex.positive) for scheme, ex in read] == [
        ("action-lines", "C4", True), ("sdgs", "6", False)]


def test_job_lifecycle(store: Store) -> None:
    job = jobs.create_job(store, "retrain", {"feedback_count": 3})
    assert job.status == "queued" and job.params == {"feedback_count": 3}
    jobs.start_job(store, job.id)
    assert jobs.get_job(store, job.id).status == "running"
    jobs.finish_job(store, job.id, ok=True, message="done", result={"version": "v2"})
    done = jobs.get_job(store, job.id)
    assert done.status == "succeeded" and done.result == {"version": "v2"}
    assert done.started and done.finished
    assert jobs.get_job(store, "0" * 32) is None
    assert [j.id for j in jobs.list_jobs(store, kind="retrain")] == [job.id]
    assert jobs.list_jobs(store, kind="other") == []


def test_interrupted_jobs_are_failed(store: Store) -> None:
    running = jobs.create_job(store, "retrain")
    jobs.start_job(store, running.id)
    queued = jobs.create_job(store, "retrain")
    finished = jobs.create_job(store, "retrain")
    jobs.finish_job(store, finished.id, ok=True, message="ok")
    assert jobs.fail_interrupted_jobs(store) == 2
    assert jobs.get_job(store, running.id).status == "failed"
    assert "interrupted" in jobs.get_job(store, queued.id).message
    assert jobs.get_job(store, finished.id).status == "succeeded"
