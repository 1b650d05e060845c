"""What the handlers receive: the app's shared context and the access checks.

The context (workspace, taggers, token, job runner) is built once in the app's lifespan and
reached through ``Annotated`` aliases, so handlers stay a few lines long.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.jobs import Retrainer
from api.schemas import RequestLimits
from api.security import ApiToken
from api.tagging import TaggingService
from nlp.config import Settings
from nlp.workspace import Workspace


@dataclass
class ApiContext:
    """Everything the handlers share, built once per app in its lifespan."""

    settings: Settings
    workspace: Workspace
    tagging: TaggingService
    token: ApiToken
    retrainer: Retrainer
    limits: RequestLimits
    loading: list[str] = field(default_factory=list)  # what still loads in the background


def get_context(request: Request) -> ApiContext:
    return request.app.state.ctx


Context = Annotated[ApiContext, Depends(get_context)]

_bearer = HTTPBearer(
    auto_error=False,
    description="The API token: WSIS_API_TOKEN, or the file printed when the server starts "
    "(home/api-token by default).",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _check_token(ctx: ApiContext, credentials: HTTPAuthorizationCredentials | None) -> None:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "This endpoint needs the API token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not ctx.token.matches(credentials.credentials):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "The API token is not valid",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


def require_write(ctx: Context, credentials: Credentials) -> None:
    """Write endpoints always need the bearer token."""
    _check_token(ctx, credentials)


def require_read(ctx: Context, credentials: Credentials) -> None:
    """Read endpoints need the token only when ``read_requires_token`` is set."""
    if ctx.settings.read_requires_token:
        _check_token(ctx, credentials)


ReadAccess = Depends(require_read)
WriteAccess = Depends(require_write)
