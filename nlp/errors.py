"""Domain errors. The CLI maps them to a message and a non-zero exit, the API to 4xx."""

from __future__ import annotations


class WsisError(Exception):
    """Base class for every error this library raises on purpose."""


class DocumentError(WsisError):
    """A document could not be read: missing, empty, encrypted, corrupt or of the wrong type."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class UnsupportedFormatError(DocumentError):
    """The file's type (by extension or by content) is not one we read."""


class ManifestMismatchError(WsisError):
    """A saved index or model was built with settings that differ from the configured ones."""


class IndexNotFoundError(WsisError):
    """No saved index exists at the given location."""


class DataMissingError(WsisError):
    """A third-party data file is not in the data directory (run ``fetch`` or set WSIS_DATA_DIR)."""

    def __init__(self, path: str) -> None:
        super().__init__(f"Data file {path!r} is missing; set WSIS_DATA_DIR or run nlp.data.fetch")
        self.path = path


class DataChecksumError(WsisError):
    """A downloaded data file's SHA-256 differs from the registry."""

    def __init__(self, path: str, expected: str, actual: str) -> None:
        super().__init__(f"Checksum mismatch for {path!r}: expected {expected}, got {actual}")
        self.path = path
        self.expected = expected
        self.actual = actual


class ModelNotFoundError(WsisError):
    """No trained tagger exists at the given location."""
