"""Searches keep answering correctly while documents are being ingested."""

from __future__ import annotations

import threading

from nlp.workspace import Workspace


def test_search_while_ingesting(settings, hash_embedder) -> None:
    ws = Workspace(settings, embedder=hash_embedder)
    ws.ensure_ready()
    base = len(ws.index())
    errors: list[BaseException] = []
    stop = threading.Event()
    seen_sizes: set[int] = set()

    def reader() -> None:
        while not stop.is_set():
            try:
                hits = ws.search("routing security for the Internet", k=5, mode="hybrid")
                assert len(hits) == 5
                for hit in hits:  # every hit is whole: metadata and offsets agree with its text
                    assert hit.meta.title
                    assert hit.passage.end - hit.passage.start == len(hit.passage.text)
                assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
                seen_sizes.add(len(ws.index()))
            except BaseException as exc:  # noqa: BLE001 - the test reports whatever broke
                errors.append(exc)
                return

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(12):
            text = f"Document number {i} commits to community networks in region {i}. " * 5
            ws.ingest_bytes(text.encode(), f"doc{i}.txt")
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[0]
    assert len(ws.index()) == base + 12
    assert max(seen_sizes) > base  # readers saw the index grow while they ran
