"""The FastAPI application: ``create_app()`` builds it, its lifespan readies the workspace.

On start the lifespan loads (or, on first run, ingests and indexes) the corpus, loads (or
builds) the taggers and makes sure an API token exists. Domain errors raised anywhere below
map to HTTP status codes here, in one place.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import nlp
from api.deps import ApiContext
from api.jobs import JobConflict, Retrainer
from api.routes import documents, feedback, insights, meta, models, search, tag
from api.schemas import LimitExceeded, RequestLimits
from api.security import load_or_create_token
from api.service import BadRequest, NotFound
from api.tagging import TaggersUnavailable, TaggingService
from nlp.config import Settings, get_settings
from nlp.errors import (
    DocumentError,
    IndexNotFoundError,
    ManifestMismatchError,
    UnsupportedFormatError,
    WsisError,
)
from nlp.fsutil import file_lock
from nlp.insights import InsightsError
from nlp.search import FilterError
from nlp.similar import PassageNotFoundError
from nlp.workspace import Workspace

log = logging.getLogger("wsis.api")

STATIC_DIR = Path(__file__).parent / "static"
UPLOAD_PATH = "/v1/documents"

# The page loads nothing from elsewhere (there is no internet to load it from anyway).
_PAGE_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
             "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
             "frame-ancestors 'none'")


def _error_status(exc: WsisError) -> int:
    """Status code of a domain error (most specific class first)."""
    for cls, code in ((UnsupportedFormatError, 415), (DocumentError, 422), (FilterError, 422),
                      (BadRequest, 422), (LimitExceeded, 422), (InsightsError, 422), (NotFound, 404),
                      (PassageNotFoundError, 404),
                      (JobConflict, 409), (TaggersUnavailable, 503), (IndexNotFoundError, 503),
                      (ManifestMismatchError, 503)):
        if isinstance(exc, cls):
            return code
    if type(exc).__name__ == "EmptyTextError":  # nlp.tagging's, without importing it early
        return 422
    return 500


def _detail(exc: WsisError) -> str:
    if isinstance(exc, DocumentError):
        return exc.reason  # the uploaded file's name adds nothing for the uploader
    return str(exc)


class SecurityHeaders:
    """Headers every response gets; the page also gets a strict Content-Security-Policy (the
    offline API docs page at /docs is left without one: it uses inline scripts)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        page = not scope["path"].startswith("/docs")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                if page:
                    headers.setdefault("Content-Security-Policy", _PAGE_CSP)
                    headers.setdefault("X-Frame-Options", "DENY")
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodySizeGuard:
    """Caps request bodies, so no client can make the server buffer an unbounded body.

    An upload may carry ``upload_bytes`` plus a little slack for the multipart framing (the
    handler checks the file itself against the exact limit, after the token check); every
    other body is JSON, capped at what the text limits allow (:class:`RequestLimits`). A
    declared Content-Length over the cap is refused before reading (uploads: in the handler,
    after the token check); a streamed body is cut off as soon as it passes the cap.
    """

    def __init__(self, app: ASGIApp, limits: RequestLimits) -> None:
        self.app = app
        self.upload_limit = limits.upload_bytes
        self.json_limit = limits.json_body_bytes
        self.slack = limits.multipart_slack

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        is_upload = scope["path"].rstrip("/") == UPLOAD_PATH
        limit = self.upload_limit + self.slack if is_upload else self.json_limit
        message = (f"The upload is larger than the {self.upload_limit / 2**20:g} MB limit"
                   if is_upload else f"The request body is larger than {limit} bytes")
        if not is_upload:
            declared = Headers(scope=scope).get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                await JSONResponse({"detail": message}, status_code=413)(scope, receive, send)
                return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            received = await receive()
            if received["type"] == "http.request":
                seen += len(received.get("body", b""))
                if seen > limit:
                    raise StarletteHTTPException(413, message)
            return received

        await self.app(scope, counting_receive, send)


def say(message: str) -> None:
    """Start-up progress for whoever runs the server (uvicorn's log shows only its own)."""
    print(f"WSIS Lens: {message}", file=sys.stderr, flush=True)


def _build_context(settings: Settings, workspace: Workspace | None,
                   limits: RequestLimits) -> ApiContext:
    workspace = workspace or Workspace(settings, progress=say)
    # Concurrent /v1/tag and /v1/search calls share ONNX runs (a few ms of waiting).
    workspace.share_batches(settings.batch_wait_ms if settings.embedding_backend == "onnx"
                            else 0.0)
    token = load_or_create_token(settings)
    if token.generated:
        say(f"generated an API token for write requests in {token.origin} (mode 0600); "
            f"send it as 'Authorization: Bearer <token>'")
    else:
        say(f"write requests need the API token from {token.origin}")
    tagging = TaggingService(settings, workspace, progress=say)
    startup_lock = settings.home / ".startup.lock"
    # Several workers (uvicorn --workers N) start at once: the first fills the store and
    # builds the models while the others wait, then find everything ready.
    with file_lock(startup_lock):
        say(f"opening the store in {workspace.settings.home} (when empty, it is filled from "
            f"{workspace.settings.corpus_dir} and indexed)")
        update = workspace.ensure_ready()
        say(f"index version {update.version}: {update.passage_count} passages")
        interrupted = workspace.fail_interrupted_jobs()
        if interrupted:
            say(f"{interrupted} background job(s) were interrupted by the last shutdown")
        if not settings.background_loading:
            _load_taggers(tagging)
    # The store (SQLAlchemy) opens on first use, not before the server answers.
    retrainer = Retrainer(settings, lambda: workspace.store, lambda: workspace.tag_embedder,
                          on_success=lambda: tagging.load(build=False))
    ctx = ApiContext(settings, workspace, tagging, token, retrainer, limits)
    if settings.background_loading:
        ctx.loading[:] = ["search", "taggers", "warm-up"]
        tagging.expect_load()
        threading.Thread(target=_load_in_background, args=(ctx, startup_lock),
                         name="wsis-startup", daemon=True).start()
    return ctx


def _load_taggers(tagging: TaggingService) -> None:
    if tagging.load(build=True):
        say("taggers ready: " + ", ".join(f"{scheme} {info.get('version', '?')}"
                                          for scheme, info in tagging.models().items()))
    else:
        say(f"serving without tags: {tagging.reason}")


def _load_in_background(ctx: ApiContext, startup_lock: Path) -> None:
    """After the server answers: the search model and index, the taggers (built under the
    start-up lock when missing), then the passage tag table and one search, then one tag, so
    that the first real ones find the table, FAISS, spaCy, scikit-learn and the example
    snippets loaded. Search results carry passage tags, so the first search waits for the
    table: it comes before the warm-up tag, which only the first ``/v1/tag`` needs. Requests
    that need a part wait for it; ``/health`` lists what is left in ``ctx.loading``."""
    def done(step: str) -> None:
        if step in ctx.loading:
            ctx.loading.remove(step)

    try:
        try:
            ctx.workspace.searcher()
        except WsisError as exc:  # answered per request (503) as before
            log.warning("search not ready: %s", exc)
        done("search")
        try:
            with file_lock(startup_lock):
                _load_taggers(ctx.tagging)
        finally:
            ctx.tagging.end_load()  # never leave requests waiting on a failed load
        done("taggers")
        if ctx.tagging.available:
            ctx.tagging.passage_table(ctx.workspace.index())
        ctx.workspace.search("school connectivity", k=1)
        if ctx.tagging.available:
            ctx.tagging.tag_texts(["We will connect every school to the Internet."])
    except Exception:  # warming up is best effort; the requests report their own errors
        log.exception("background loading failed")
    finally:
        ctx.loading.clear()
        say("ready")


def _offline_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the ``swagger-ui-bundle-v2`` package's files, not a CDN."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:  # the default page still works wherever a CDN is reachable
        log.warning("swagger-ui-bundle-v2 is not installed; /docs loads Swagger UI from a CDN")
        app.add_api_route("/docs", lambda: get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title="WSIS Lens API"),
            include_in_schema=False)
        return
    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title="WSIS Lens API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png")


def create_app(settings: Settings | None = None, workspace: Workspace | None = None) -> FastAPI:
    """The WSIS Lens app.

    Args:
        settings: defaults to the workspace's, else to ``WSIS_*`` environment variables.
        workspace: a ready-made workspace (tests pass one with a fake embedder).
    """
    if settings is None:
        settings = workspace.settings if workspace is not None else get_settings()
    limits = RequestLimits.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = await run_in_threadpool(_build_context, settings, workspace, limits)
        app.state.ctx = ctx
        try:
            yield
        finally:
            ctx.retrainer.wait(timeout=0)
            ctx.workspace.close()

    app = FastAPI(
        title="WSIS Lens",
        version=nlp.__version__,
        docs_url=None,  # served by _offline_docs from local files: the CDN is out of reach
        redoc_url=None,
        summary="Search, compare and tag WSIS+20 review documents by WSIS Action Line, SDG "
                "and Global Digital Compact commitment.",
        lifespan=lifespan,
    )

    @app.exception_handler(WsisError)
    async def domain_error(request: Request, exc: WsisError) -> JSONResponse:
        code = _error_status(exc)
        if code == 500:
            log.exception("unhandled domain error", exc_info=exc)
            return JSONResponse({"detail": "Internal error"}, status_code=500)
        return JSONResponse({"detail": _detail(exc)}, status_code=code)

    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodySizeGuard, limits=limits)

    for module in (meta, search, tag, documents, feedback, models, insights):
        app.include_router(module.router)
    _offline_docs(app)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
