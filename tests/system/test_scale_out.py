"""Scale-out: two server processes share one database and one published index directory.

A document uploaded through one process is found by a search on the other without a restart
(each request compares the live index version with the one it holds)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.servers import ServerProcess

TOKEN = "scale-out-test-token-0123456789"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_processes_share_index_and_store(tmp_path: Path, request, backend: str) -> None:
    if backend == "postgresql":
        url = request.getfixturevalue("database_url_postgresql")
    else:
        url = f"sqlite:///{tmp_path / 'shared.db'}"
    home = tmp_path / "home"
    first = ServerProcess(home, WSIS_DATABASE_URL=url, WSIS_API_TOKEN=TOKEN)
    second = ServerProcess(home, WSIS_DATABASE_URL=url, WSIS_API_TOKEN=TOKEN)
    try:
        a = first.start().base  # the first process builds the index
        try:
            b = second.start().base
            before = httpx.get(b + "/health").json()["index"]
            text = ("Lighthouse keepers commit to broadband beacons on every remote island "
                    "by 2031, with solar-powered relays.")
            upload = httpx.post(a + "/v1/documents", headers={"Authorization": f"Bearer {TOKEN}"},
                                files={"file": ("islands.txt", text.encode(), "text/plain")},
                                data={"title": "Island beacons", "organization": "Keepers"},
                                timeout=60)
            assert upload.status_code == 201, upload.text
            hits = httpx.post(b + "/v1/search", json={"query": "lighthouse keepers beacons",
                                                      "k": 1, "mode": "lexical"},
                              timeout=60).json()["results"]
            assert hits and hits[0]["organization"] == "Keepers"
            after = httpx.get(b + "/health").json()["index"]
            assert after["version"] > before["version"]
            assert after["passage_count"] == before["passage_count"] + 1
            docs = httpx.get(b + "/v1/documents").json()
            assert "Island beacons" in str(docs)
        finally:
            second.stop()
    finally:
        first.stop()
