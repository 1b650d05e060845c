"""Retraining the taggers with reviewer feedback, as a background job.

One retrain runs at a time, in a daemon thread so a server shutdown never waits on it. Its
status lives in the ``jobs`` table (:mod:`nlp.jobs`); a job the server was stopped in the middle of is marked
failed at the next start (new models are written atomically, so nothing half-written is used).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from nlp import feedback as fb
from nlp import jobs
from nlp.config import Settings
from nlp.errors import WsisError
from nlp.fsutil import file_lock

if TYPE_CHECKING:
    from nlp.embed import Embedder
    from nlp.store import Store

log = logging.getLogger("wsis.api")

RETRAIN = "retrain"


class JobConflict(WsisError):
    """A retrain is already queued or running."""

    def __init__(self, job: jobs.Job) -> None:
        super().__init__(f"A retrain is already {job.status} (job {job.id})")
        self.job = job


def retrain_with_feedback(settings: Settings, embedder: Embedder, store: Store, job_id: str,
                          evaluate: bool = False,
                          progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """What ``wsis train all --feedback FILE`` does, with every feedback record so far.

    The feedback is written to ``home/feedback/retrain-<job>.jsonl`` first (kept as a record
    of what the models were trained on); the models go to a new version directory, so the
    ones serving now are never overwritten.

    Args:
        evaluate: also cross-validate (slow; gives the model card its metrics).

    Returns:
        ``wsis train``'s summary plus ``feedback_examples``, ``feedback_file`` and ``version``.
    """
    from nlp.tagging import registry
    from nlp.training.trainers import run_training

    examples = fb.training_examples(fb.list_feedback(store))
    folder = settings.home / "feedback"
    folder.mkdir(parents=True, exist_ok=True)
    feedback_file = folder / f"retrain-{job_id}.jsonl"
    with feedback_file.open("w", encoding="utf-8") as handle:
        for example in examples:
            handle.write(json.dumps(example, ensure_ascii=False) + "\n")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    version = f"{registry.default_version(embedder)}-fb{stamp}"
    # Retrained models go to the service's own folder; the shipped models/ stays as released.
    target = settings.model_copy(update={"models_dir": settings.runtime_models_dir})
    summary = run_training(target, embedder, feedback_path=feedback_file,
                           version=version, with_evaluation=evaluate,
                           report_dir=settings.home / "reports", progress=progress)
    return {**summary, "feedback_examples": len(examples), "feedback_file": str(feedback_file),
            "version": version}


class Retrainer:
    """Runs at most one retrain at a time and records it in the jobs table.

    Args:
        settings: where models live.
        store: where jobs live: the store, or a function that returns it (the server opens it
            on first use, after it answers).
        embedder: returns the workspace's embedder.
        on_success: called after new models are saved (the API reloads its taggers there).
        train: the training function (replaceable in tests).
    """

    def __init__(self, settings: Settings, store: Store | Callable[[], Store],
                 embedder: Callable[[], Embedder], on_success: Callable[[], Any],
                 train: Callable[..., dict[str, Any]] = retrain_with_feedback) -> None:
        self.settings = settings
        self._store = store
        self._embedder = embedder
        self._on_success = on_success
        self._train = train
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def store(self) -> Store:
        return self._store() if callable(self._store) else self._store

    def active(self) -> jobs.Job | None:
        for job in jobs.list_jobs(self.store, kind=RETRAIN, limit=5):
            if job.status in ("queued", "running"):
                return job
        return None

    def submit(self, evaluate: bool = False) -> jobs.Job:
        """Queue a retrain and start it.

        Raises:
            JobConflict: one is already queued or running.
        """
        # The thread lock covers this process; the file lock covers the other workers that
        # share this home, so two workers cannot both see "no active job" and start one each.
        with self._lock, file_lock(self.settings.home / ".retrain.lock"):
            current = self.active()
            if current is not None:
                raise JobConflict(current)
            job = jobs.create_job(self.store, RETRAIN, {
                "feedback_count": fb.count_feedback(self.store), "evaluate": evaluate})
            self._thread = threading.Thread(target=self._run, args=(job.id, evaluate),
                                            name=f"wsis-retrain-{job.id[:8]}", daemon=True)
            self._thread.start()
            return job

    def _run(self, job_id: str, evaluate: bool) -> None:
        jobs.start_job(self.store, job_id, "training taggers with feedback")

        def progress(message: str) -> None:
            log.info("retrain %s: %s", job_id[:8], message)
            jobs.update_job_message(self.store, job_id, message)

        try:
            result = self._train(self.settings, self._embedder(), self.store, job_id,
                                 evaluate=evaluate, progress=progress)
            self._on_success()
        except Exception as exc:  # a failed job is reported, never raised into the server
            log.exception("retrain job %s failed", job_id)
            jobs.finish_job(self.store, job_id, ok=False,
                          message=f"failed: {type(exc).__name__}: {exc}")
            return
        jobs.finish_job(self.store, job_id, ok=True, message="new models are live", result=result)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the running job (if any) ends; for tests and orderly shutdown."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
