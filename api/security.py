"""The API's bearer token: where it comes from, and how a request proves it has it.

Write endpoints always need the token; read endpoints need it only when
``read_requires_token`` is set. The token is taken from ``WSIS_API_TOKEN`` when set,
otherwise from ``api_token_file`` (default ``home/api-token``); when neither exists on first
run, a random token is generated into that file with 0600 permissions.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from nlp.config import Settings

log = logging.getLogger("wsis.api")

TOKEN_FILE_NAME = "api-token"
_MIN_TOKEN_CHARS = 16


class TokenError(RuntimeError):
    """The configured token is unusable (too short, or its file is unreadable)."""


@dataclass(frozen=True)
class ApiToken:
    """The token and where it came from (``"environment"`` or a file path)."""

    value: str
    origin: str
    generated: bool = False

    def matches(self, candidate: str | None) -> bool:
        """Constant-time comparison, so timing does not leak the token."""
        if not candidate:
            return False
        return hmac.compare_digest(candidate.encode("utf-8"), self.value.encode("utf-8"))


def token_path(settings: Settings) -> Path:
    return Path(settings.api_token_file or settings.home / TOKEN_FILE_NAME).expanduser()


def load_or_create_token(settings: Settings) -> ApiToken:
    """The configured token, generating and saving one (mode 0600) on first run.

    Raises:
        TokenError: the configured token is shorter than 16 characters, or the token file
            exists but is empty or unreadable.
    """
    configured = settings.api_token.get_secret_value().strip() if settings.api_token else ""
    if configured:  # an empty WSIS_API_TOKEN= means "not set", not "no token"
        _check(configured, "WSIS_API_TOKEN")
        return ApiToken(configured, "environment")
    path = token_path(settings)
    if path.exists():
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise TokenError(f"Cannot read the API token file {str(path)!r}: {exc.strerror}")
        _check(value, str(path))
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("API token file %s is readable by others (mode %o); chmod 600 it",
                        path, mode)
        return ApiToken(value, str(path))
    value = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: if two processes start at once (e.g. two uvicorn workers), exactly one creates
    # the file and the other reads it; a token someone may already have copied is never
    # overwritten.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _wait_for_token(path)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return ApiToken(value, str(path), generated=True)


def _wait_for_token(path: Path, seconds: float = 5.0) -> ApiToken:
    """Read a token file another process is writing at this moment."""
    deadline = time.monotonic() + seconds
    while True:
        value = path.read_text(encoding="utf-8").strip()
        if len(value) >= _MIN_TOKEN_CHARS or time.monotonic() > deadline:
            _check(value, str(path))
            return ApiToken(value, str(path))
        time.sleep(0.05)


def _check(value: str, origin: str) -> None:
    if len(value) < _MIN_TOKEN_CHARS:
        raise TokenError(
            f"The API token from {origin} is {len(value)} characters long; "
            f"use at least {_MIN_TOKEN_CHARS}"
        )
