"""Shared fixtures: a fast fake embedder for most tests, the real bundled model for a few."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nlp.config import PROJECT_ROOT, Settings, get_settings
from nlp.embed import HashEmbedder

os.environ.setdefault("HF_HUB_OFFLINE", "1")
CORPUS = PROJECT_ROOT / "corpus" / "wsis20"


@pytest.fixture(scope="session")
def hash_embedder() -> HashEmbedder:
    return HashEmbedder(256)


@pytest.fixture(scope="session")
def real_embedder():
    """The bundled all-MiniLM-L6-v2, loaded once per test session."""
    from nlp.embed import load_embedder

    return load_embedder("all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def export_dir(tmp_path_factory) -> Path:
    """The bundled model exported to ONNX once per test session (about 15-30 s)."""
    from nlp.embed import BUNDLED_MODEL, bundled_model_path
    from nlp.onnx_export import export_onnx

    out = tmp_path_factory.mktemp("onnx") / BUNDLED_MODEL
    return export_onnx(bundled_model_path(), out)


@pytest.fixture(scope="session")
def onnx_embedder(export_dir: Path):
    from nlp.onnx_embed import OnnxEmbedder

    return OnnxEmbedder(export_dir)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", models_dir=tmp_path / "models",
                    embedding_model="hash:256")


@pytest.fixture
def env_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the environment-driven settings (CLI, app factory) at a fresh home."""
    home = tmp_path / "env-home"
    monkeypatch.setenv("WSIS_HOME", str(home))
    monkeypatch.setenv("WSIS_EMBEDDING_MODEL", "hash:256")
    monkeypatch.setenv("WSIS_MODELS_DIR", str(home / "models"))  # never the repo's models/
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture
def corpus_documents():
    from nlp.load import load_paths

    report = load_paths([CORPUS])
    assert not report.errors
    return report.documents


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory):
    """A throw-away PostgreSQL server on loopback (Debian's binaries), or a skip with the reason.

    ``WSIS_TEST_POSTGRES_URL`` points the tests at an existing server instead.
    """
    import glob
    import shutil
    import subprocess

    if os.environ.get("WSIS_TEST_POSTGRES_URL"):
        yield os.environ["WSIS_TEST_POSTGRES_URL"]
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install 'wsis-lens[postgres]')")
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    bindir = Path(binaries[-1]).parent
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="wsis-pg-"))  # outside pytest's 0700 root-owned tree
    data = base / "data"
    run_as: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL")
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres")
    from tests.servers import free_port

    port = free_port()
    subprocess.run(run_as + [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U",
                             "postgres", "--no-sync"], check=True, capture_output=True)
    options = f"-p {port} -k {data.parent} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(run_as + [str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l",
                             str(data.parent / "log"), "-o", options, "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(run_as + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                 "stop"], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path: Path) -> str:
    """Run a test once on SQLite and once on a real PostgreSQL server (fresh database each)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("database_url_postgresql")


@pytest.fixture
def database_url_postgresql(postgres_url: str) -> str:
    """A fresh, empty database on the test PostgreSQL server."""
    base = postgres_url
    import uuid

    from sqlalchemy import create_engine, text

    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base.rsplit("/", 1)[0] + f"/{name}"


# ---------------------------------------------------------------- taggers
# Most tagger tests use zero-shot taggers built from the taxonomy with the hash embedder.


@pytest.fixture(scope="session")
def plain_taxonomy():
    """Taxonomy without the data directory (SDG goals from built-in topics)."""
    from nlp.taxonomy import load_taxonomy

    return load_taxonomy(PROJECT_ROOT / "corpus" / "taxonomy", None)


@pytest.fixture(scope="session")
def zero_shot_paths(tmp_path_factory, hash_embedder, plain_taxonomy) -> dict[str, Path]:
    from nlp.embed_cache import EmbeddingCache
    from nlp.taxonomy import SCHEMES
    from nlp.training.fit import zero_shot_calibration
    from nlp.training.trainers import train_scheme

    root = tmp_path_factory.mktemp("zs-models")
    zs = zero_shot_calibration(EmbeddingCache(None, hash_embedder), plain_taxonomy, None)
    return {
        scheme: train_scheme(scheme, hash_embedder, plain_taxonomy, None, None,
                             out_dir=root / scheme / "v1", zero_shot=zs).path
        for scheme in SCHEMES
    }


@pytest.fixture(scope="session")
def zero_shot_suite(zero_shot_paths, hash_embedder, plain_taxonomy):
    from nlp.tagging.suite import TaggerSuite

    return TaggerSuite.load(zero_shot_paths, hash_embedder, plain_taxonomy)
