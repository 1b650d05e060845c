"""The bearer token: writes need it, reads can be closed, and how it is made and kept."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from nlp.config import Settings
from tests.api.apphelp import AUTH, make_settings, open_app, small_corpus

WRITES = [
    ("post", "/v1/documents", {"files": {"file": ("a.txt", b"Some text here.")}}),
    ("delete", "/v1/documents/0123456789abcdef", {}),
    ("post", "/v1/feedback", {"json": {"text": "t", "label": "C1", "action": "accept"}}),
    ("post", "/v1/models/retrain", {}),
]


@pytest.mark.parametrize("method, path, kwargs", WRITES)
def test_writes_need_the_token(client: TestClient, method: str, path: str, kwargs: dict) -> None:
    missing = getattr(client, method)(path, **kwargs)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = getattr(client, method)(path, headers={"Authorization": "Bearer nope-nope-nope"},
                                    **kwargs)
    assert wrong.status_code == 403
    basic = getattr(client, method)(path, headers={"Authorization": "Basic dXNlcjpwYXNz"},
                                    **kwargs)
    assert basic.status_code == 401


def test_reads_can_be_closed(tmp_path: Path, models_dir: Path) -> None:
    settings = make_settings(tmp_path / "home", models_dir, corpus_dir=small_corpus(tmp_path / "c"),
                             read_requires_token=True)
    test_client, _ = open_app(settings)
    with test_client:
        for method, path, kwargs in [("get", "/health", {}), ("get", "/v1/documents", {}),
                                     ("post", "/v1/search", {"json": {"query": "school"}}),
                                     ("post", "/v1/tag", {"json": {"texts": ["school"]}}),
                                     ("get", "/v1/feedback/export", {})]:
            assert getattr(test_client, method)(path, **kwargs).status_code == 401, path
            assert getattr(test_client, method)(path, headers=AUTH, **kwargs).status_code == 200
        assert test_client.get("/").status_code == 200  # the page itself asks for the token


def test_token_is_generated_once_with_private_permissions(tmp_path: Path,
                                                          models_dir: Path, capsys) -> None:
    home = tmp_path / "home"
    settings = make_settings(home, models_dir, corpus_dir=small_corpus(tmp_path / "c"),
                             api_token=None)
    test_client, _ = open_app(settings)
    with test_client:
        token_file = home / "api-token"
        assert token_file.is_file()
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        assert len(token) >= 32
        assert str(token_file) in capsys.readouterr().err
        headers = {"Authorization": f"Bearer {token}"}
        ok = test_client.post("/v1/feedback", json={"text": "t", "label": "C1",
                                                    "action": "add"}, headers=headers)
        assert ok.status_code == 201
    again, _ = open_app(settings)
    with again:
        assert token_file.read_text().strip() == token


def test_an_empty_token_setting_means_generate_one(tmp_path: Path) -> None:
    from api.security import load_or_create_token

    settings = Settings(home=tmp_path, api_token="")
    token = load_or_create_token(settings)
    assert token.generated and token.origin == str(tmp_path / "api-token")
    again = load_or_create_token(settings)
    assert again.value == token.value and not again.generated
    custom = Settings(home=tmp_path, api_token_file=tmp_path / "secrets" / "token")
    assert load_or_create_token(custom).origin == str(tmp_path / "secrets" / "token")


def test_a_short_configured_token_is_refused(tmp_path: Path, models_dir: Path) -> None:
    from api.security import TokenError

    settings = make_settings(tmp_path / "home", models_dir, corpus_dir=small_corpus(tmp_path / "c"),
                             api_token="short")
    test_client, _ = open_app(settings)
    with pytest.raises(TokenError, match="at least 16"), test_client:
        pass
