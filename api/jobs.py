"""Retraining the taggers with reviewer feedback, as a background job.

One retrain runs at a time, in a daemon thread so a server shutdown never waits on it. Its
status lives in the ``jobs`` table; a job the server was stopped in the middle of is marked
failed at the next start (new models are written atomically, so nothing half-written is used).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nlp import feedback as fb
from nlp.config import Settings
from nlp.embed import Embedder
from nlp.errors import WsisError
from nlp.store import Store

log = logging.getLogger("wsis.api")

RETRAIN = "retrain"


class JobConflict(WsisError):
    """A retrain is already queued or running."""

    def __init__(self, job: fb.Job) -> None:
        super().__init__(f"A retrain is already {job.status} (job {job.id})")
        self.job = job


def retrain_with_feedback(settings: Settings, embedder: Embedder, store: Store,
                          job_id: str) -> dict[str, Any]:
    """Train a new version of every scheme's tagger from the data plus all feedback so far.

    The feedback is written to ``home/feedback/<job>.jsonl`` first (kept as a record of what
    the models were trained on) and read back with the trainers' own reader.

    Returns:
        ``{"feedback_examples": n, "models": {scheme: path}}``.
    """
    from nlp import data as datasets
    from nlp import train
    from nlp.taxonomy import load_taxonomy

    examples = fb.training_examples(fb.list_feedback(store))
    folder = settings.home / "feedback"
    folder.mkdir(parents=True, exist_ok=True)
    feedback_file = folder / f"retrain-{job_id}.jsonl"
    with feedback_file.open("w", encoding="utf-8") as handle:
        for example in examples:
            handle.write(json.dumps(example, ensure_ascii=False) + "\n")
    per_scheme: dict[str, list[Any]] = {}
    for scheme, example in train.read_feedback(feedback_file):
        per_scheme.setdefault(scheme, []).append(example)

    data_dir = settings.data_dir if datasets.data_available(settings.data_dir) else None
    taxonomy = load_taxonomy(settings.taxonomy_dir, data_dir)
    cache_dir = settings.home / "cache" / "embeddings"
    zero_shot = train.zero_shot_calibration(train.EmbeddingCache(cache_dir, embedder), taxonomy,
                                            data_dir)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    version = f"{train.default_version(embedder)}-fb{stamp}"
    models: dict[str, str] = {}
    for scheme in taxonomy.labels:
        out = Path(settings.models_dir) / scheme / version
        result = train.train_scheme(scheme, embedder, taxonomy, data_dir, cache_dir,
                                    feedback=per_scheme.get(scheme, []), out_dir=out,
                                    zero_shot=zero_shot)
        models[scheme] = str(result.path)
    return {"feedback_examples": len(examples), "feedback_file": str(feedback_file),
            "version": version, "models": models}


class Retrainer:
    """Runs at most one retrain at a time and records it in the jobs table.

    Args:
        settings, store: where models and jobs live.
        embedder: returns the workspace's embedder.
        on_success: called after new models are saved (the API reloads its taggers there).
        train: the training function (replaceable in tests).
    """

    def __init__(self, settings: Settings, store: Store, embedder: Callable[[], Embedder],
                 on_success: Callable[[], Any],
                 train: Callable[..., dict[str, Any]] = retrain_with_feedback) -> None:
        self.settings = settings
        self.store = store
        self._embedder = embedder
        self._on_success = on_success
        self._train = train
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def active(self) -> fb.Job | None:
        for job in fb.list_jobs(self.store, kind=RETRAIN, limit=5):
            if job.status in ("queued", "running"):
                return job
        return None

    def submit(self) -> fb.Job:
        """Queue a retrain and start it.

        Raises:
            JobConflict: one is already queued or running.
        """
        with self._lock:
            current = self.active()
            if current is not None:
                raise JobConflict(current)
            job = fb.create_job(self.store, RETRAIN,
                                {"feedback_count": fb.count_feedback(self.store)})
            self._thread = threading.Thread(target=self._run, args=(job.id,),
                                            name=f"wsis-retrain-{job.id[:8]}", daemon=True)
            self._thread.start()
            return job

    def _run(self, job_id: str) -> None:
        fb.start_job(self.store, job_id, "training taggers with feedback")
        try:
            result = self._train(self.settings, self._embedder(), self.store, job_id)
            self._on_success()
        except Exception as exc:  # a failed job is reported, never raised into the server
            log.exception("retrain job %s failed", job_id)
            fb.finish_job(self.store, job_id, ok=False,
                          message=f"failed: {type(exc).__name__}: {exc}")
            return
        fb.finish_job(self.store, job_id, ok=True, message="new models are live", result=result)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the running job (if any) ends; for tests and orderly shutdown."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
