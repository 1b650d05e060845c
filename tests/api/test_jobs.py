"""Two retrainers over one home and database (two workers) never run two retrains at once."""

from __future__ import annotations

import threading

import pytest

from api.jobs import JobConflict, Retrainer
from nlp import jobs
from nlp.store import Store


def test_a_second_worker_cannot_start_a_parallel_retrain(settings) -> None:
    store = Store(settings.db_url)
    release = threading.Event()
    calls: list[str] = []

    def slow_train(settings, embedder, store, job_id, **kwargs):
        calls.append(job_id)
        release.wait(30)
        return {"models": {}}

    def make() -> Retrainer:
        return Retrainer(settings, store, embedder=lambda: None, on_success=lambda: None,
                         train=slow_train)

    first, second = make(), make()
    job = first.submit()
    with pytest.raises(JobConflict):
        second.submit()
    release.set()
    first.wait(30)
    assert calls == [job.id]
    assert jobs.get_job(store, job.id).status == "succeeded"
    second.submit()  # free again once the first has finished
    second.wait(30)
    store.close()
