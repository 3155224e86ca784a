"""The FastAPI application: ``create_app(artifacts_dir | recommender, settings=...)``.

Routes are versioned under ``/v1``; ``/healthz``, ``/metrics``, ``/docs`` and the web page
``/ui/users/{user_id}`` sit beside them. Handlers are plain ``def`` functions, so the
recommender's numpy work runs in the worker threads and never blocks the event loop.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
import time
import traceback
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interestlm.core.errors import BadInputError, ConflictError, UnknownConceptError, UnknownIdError
from interestlm.serve.auth import ApiKeys
from interestlm.serve.concurrency import Admission, Overloaded
from interestlm.serve.follow import Follower
from interestlm.serve.metrics import CONTENT_TYPE, Metrics
from interestlm.serve.routes import UserId, router
from interestlm.serve.safety import check_store, marker_path_for
from interestlm.serve.schemas import MAX_K, HealthOut
from interestlm.serve.service import Service, ServiceUnavailable, artifacts_fingerprint
from interestlm.serve.settings import ServeSettings
from interestlm.serve.snapshot import snapshot_dir_for
from interestlm.serve.store import LogStore, Store

if TYPE_CHECKING:
    from interestlm.lm import Generator
    from interestlm.recommender import Recommender

STATIC = Path(__file__).parent / "static"

#: The interpreter's thread switch interval while serving (see ``lifespan``).
SWITCH_INTERVAL_S = 0.001

log = logging.getLogger("interestlm.serve")
access_log = logging.getLogger("interestlm.serve.access")

_UI_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def default_store_path(artifacts_dir: Path) -> Path:
    """``ARTIFACTS_DIR.store.sqlite3`` beside the artifacts (the artifacts directory itself stays as fitted)."""
    resolved = Path(artifacts_dir).resolve()
    return resolved.with_name(resolved.name + ".store.sqlite3")


def blas_limit(threads: int) -> AbstractContextManager[object]:
    """BLAS held to ``threads`` threads in this process while the context is open (0: unchanged).

    The limit is process-wide (OpenBLAS has one thread pool), which is what a server wants: every
    compute worker's products run on one core, so two lists run side by side on two cores instead
    of four BLAS threads fighting over them.
    """
    if threads <= 0:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    limiter: AbstractContextManager[object] = threadpool_limits(limits=threads, user_api="blas")
    return limiter


def blas_threads() -> float:
    """The most threads a process-wide BLAS of this process uses now (0 if none is loaded).

    numpy's and scipy's OpenBLAS (what ranking multiplies with) keep one count per process; an
    OpenMP build (faiss's) keeps one per thread, so reading it here would say only this thread's.
    """
    from threadpoolctl import threadpool_info

    counts = [
        int(i["num_threads"])
        for i in threadpool_info()
        if i["user_api"] == "blas" and i.get("threading_layer") != "openmp"
    ]
    return float(max(counts, default=0))


def create_app(
    source: Path | str | Recommender,
    *,
    settings: ServeSettings | None = None,
    lm: Generator | None = None,
    lm_budget: float = 1.0,
) -> FastAPI:
    """The service for an artifacts directory (or an already fitted ``Recommender``).

    With ``lm``, profile summaries and explanations are written by that generator, at most
    ``lm_budget`` seconds of model time per request (then the template text is served).

    The operation log in ``settings.store_path`` is replayed onto the recommender before the
    app is returned, so the first request already sees every acknowledged write. A store path
    is required when a recommender object is given.
    """
    from interestlm.recommender import Recommender

    settings = settings or ServeSettings()
    recommender: Recommender
    fingerprint: str | None = None
    store_path: Path | None
    if isinstance(source, str | Path):
        directory = Path(source)
        recommender = Recommender.load(directory)
        fingerprint = artifacts_fingerprint(directory)
        store_path = settings.store_path or default_store_path(directory)
    else:
        recommender = source
        if settings.store_path is None and settings.store_url is None:
            raise ValueError(
                "create_app(recommender) needs settings.store_path or settings.store_url (where the event log lives)"
            )
        store_path = settings.store_path
    keys = ApiKeys(settings.keys())  # a missing or malformed key file fails before anything is opened
    store: LogStore
    follow_url: str | None = None
    marker_path = settings.store_marker
    snapshot_dir = settings.snapshot_dir
    if settings.store_url is not None:
        from interestlm.serve.pgstore import PostgresStore

        store = PostgresStore(settings.store_url)
        if settings.follow_interval > 0:
            follow_url = settings.store_url
        if marker_path is None and isinstance(source, str | Path):
            # One marker per (artifacts, database): replicas each keep their own beside their artifacts.
            resolved = Path(source).resolve()
            tag = hashlib.sha256(str(store.path).encode()).hexdigest()[:12]
            marker_path = resolved.with_name(f"{resolved.name}.store-marker-{tag}.json")
            snapshot_dir = snapshot_dir or resolved.with_name(f"{resolved.name}.snapshot-{tag}")
    else:
        assert store_path is not None
        store = Store(store_path, synchronous=settings.synchronous)
        marker_path = marker_path or marker_path_for(store_path)
        snapshot_dir = snapshot_dir or snapshot_dir_for(store_path)
    metrics = Metrics()
    metrics.gauge("interestlm_blas_threads", "BLAS threads of this process now", blas_threads)
    try:
        marker = check_store(store, marker_path, new_store=settings.new_store)
        if lm is not None:
            from interestlm.lm_writer import LMWriter

            lm.budget = lm_budget
            # A front door of its own over the same fitted state: the caller's object keeps its text.
            recommender = recommender.with_text(LMWriter(lm, request_budget=lm_budget))
        admission = Admission(settings.compute_workers, settings.compute_queue, settings.queue_wait)
        service = Service(
            recommender,
            store,
            metrics,
            fingerprint=fingerprint,
            cache_size=settings.cache_size,
            cache_bytes=settings.cache_bytes,
            admission=admission,
            marker=marker,
            snapshot_dir=snapshot_dir if settings.snapshot_every else None,
            snapshot_every=max(settings.snapshot_every, 1),
            refresh_lists=settings.refresh_lists,
            shared=follow_url is not None,
        )
        service.replay()
        if settings.warm:
            started = time.perf_counter()
            with blas_limit(settings.blas_threads):
                n = service.warm()
            log.info("warmed the recommendation cache for %d users in %.1f s", n, time.perf_counter() - started)
    except BaseException:
        store.close()
        raise
    log.info(
        "serving %d items, %d users; event log %s; %d API keys",
        service.n_items(),
        service.n_users(),
        store.path,
        len(keys),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The compute threads hold the GIL in stretches of Python (explanations, rendering); a
        # shorter switch interval than the default 5 ms lets the event loop answer /healthz,
        # cache hits and 503s in between. Restored when the server stops.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, SWITCH_INTERVAL_S))
        # Started with the server, not with the app: an app never served leaves no thread behind.
        follower = None
        if follow_url is not None:
            follower = Follower(
                service, follow_url, interval=settings.follow_interval, listen=settings.follow_notify
            ).start()
        try:
            with blas_limit(settings.blas_threads):
                yield
        finally:
            if follower is not None:
                follower.stop()
            sys.setswitchinterval(interval)
            service.save_marker(force=True)
            try:
                service.snapshot()  # the next start replays nothing
            except Exception as exc:
                log.error("snapshot at shutdown failed: %s", type(exc).__name__)
            store.close()

    app = FastAPI(
        title="interestlm",
        version="1",
        summary="Readable user-interest profiles: recommend, explain, take feedback, edit profiles.",
        lifespan=lifespan,
        # FastAPI's own pages load Swagger UI and ReDoc from a public CDN: blank offline.
        docs_url=None,
        redoc_url=None,
    )
    _install_docs(app)
    app.state.service = service
    app.state.settings = settings
    _install_errors(app)

    app.include_router(router(keys, settings))

    @app.get("/healthz", response_model=HealthOut, response_model_exclude_none=True)
    async def healthz(request: Request) -> Any:
        """Liveness; the counts (items, users, log position) only for an admin key or with public reads.
        503 when writes are off after a failed undo.

        Answered on the event loop from in-memory counters (no lock, no store query, no worker
        thread), so it stays fast whatever the compute load.
        """
        if service.broken:
            return JSONResponse({"detail": service.broken}, status_code=503)
        if settings.public_reads or keys.is_admin(request):
            out: dict[str, Any] = {
                "status": "ok",
                "n_items": service.n_items(),
                "n_users": service.n_users(),
                "log_seq": service.log_seq,
            }
            if service.shared is not None:
                out.update(
                    log_head=max(service.log_head, service.log_seq),
                    followed_rows=service.followed_rows,
                    followed_at=service.followed_at,
                    follow_delay_s=service.follow_delay,
                )
            return out
        return {"status": "ok"}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus(request: Request) -> Response:
        """Prometheus text: request counts, latency histograms, events accepted, catalog size (admin
        key unless public reads)."""
        if not settings.public_reads:
            keys.authorize(request, admin=True)
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/ui/users/{user_id}", response_class=HTMLResponse, include_in_schema=False)
    def ui_user(user_id: UserId) -> Response:
        """The web page (static HTML; the script reads the user id from the address and the key
        from ``#key=...``). Unless reads are public the page is the same for every id, so it does
        not tell which users exist: the data comes from the API, to a key that may read it."""
        if settings.public_reads:
            try:
                service.profile(user_id)
            except UnknownIdError:
                return HTMLResponse("<!doctype html><title>unknown user</title><p>Unknown user.</p>", 404, _UI_HEADERS)
        return FileResponse(STATIC / "user.html", media_type="text/html", headers=_UI_HEADERS)

    app.mount("/ui/static", StaticFiles(directory=STATIC), name="static")
    # The last added is the outermost: Observe sees every response, 413s from BodyLimit included.
    app.add_middleware(Shed, service=service)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(Observe, metrics=metrics)
    return app


#: Where the API pages' scripts and styles are served from (the files of the fastapi-offline wheel).
DOCS_ASSETS = "/docs-assets"


def _install_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) with its assets served by this app, never a CDN. (No ``/redoc``: ReDoc's
    bundle fetches its footer logo from cdn.redoc.ly, so it cannot be served fully offline.)"""
    import fastapi_offline
    from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title="interestlm API",
            oauth2_redirect_url=redirect,
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        )

    @app.get(redirect, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


def _install_errors(app: FastAPI) -> None:
    """The library's typed errors as client errors; anything else is left to :class:`Observe` (500)."""

    def reply(request: Request, status: int, detail: str, **extra: Any) -> JSONResponse:
        return JSONResponse({"detail": detail, **extra}, status_code=status, headers=_request_id_header(request))

    @app.exception_handler(UnknownConceptError)
    async def unknown_concept(request: Request, exc: UnknownConceptError) -> JSONResponse:
        return reply(request, 422, str(exc), suggestions=exc.suggestions)

    @app.exception_handler(UnknownIdError)
    async def unknown_id(request: Request, exc: UnknownIdError) -> JSONResponse:
        return reply(request, 404, str(exc) or "unknown id")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # The offending input is not echoed back: messages name the field and the rule only.
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")} for e in exc.errors()
        ]
        summary = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
        return reply(request, 422, f"invalid request: {summary}", errors=errors)

    @app.exception_handler(BadInputError)
    async def bad_input(request: Request, exc: BadInputError) -> JSONResponse:
        return reply(request, 422, str(exc))

    @app.exception_handler(ConflictError)
    async def conflict(request: Request, exc: ConflictError) -> JSONResponse:
        return reply(request, 409, str(exc))

    @app.exception_handler(ServiceUnavailable)
    async def unavailable(request: Request, exc: ServiceUnavailable) -> JSONResponse:
        return reply(request, 503, str(exc))

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, exc: Overloaded) -> JSONResponse:
        response = reply(request, 503, str(exc))
        response.headers["Retry-After"] = str(exc.retry_after)
        return response


def _request_id_header(request: Request) -> dict[str, str]:
    rid = request.scope.get("state", {}).get("request_id")
    return {"X-Request-ID": rid} if rid else {}


_USER_LIST = re.compile(r"/v1/users/([^/]{1,256})/recommendations")
_TRUE, _FALSE = {"1", "true", "on", "yes"}, {"0", "false", "off", "no"}


class Shed:
    """Refuse an uncached list at once (503, ``Retry-After``) when admission is full, before routing,
    validation and the key check: under overload the refusals must cost the event loop next to
    nothing, or the loop itself becomes the queue. Anything it cannot read plainly (odd query
    values, another route) goes on to the app, which answers it properly."""

    def __init__(self, app: ASGIApp, *, service: Service) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry."""
        if scope["type"] == "http" and scope.get("method") == "GET" and self.service.admission.full():
            match = _USER_LIST.fullmatch(str(scope.get("path", "")))
            if match is not None and self._uncached(match.group(1), scope.get("query_string", b"")):
                self.service.admission.refused += 1
                body = b'{"detail":"the server is at capacity: every compute slot is busy and the queue is full"}'
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                           (b"retry-after", b"1")]  # fmt: skip
                await send({"type": "http.response.start", "status": 503, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _uncached(self, user_id: str, query: bytes) -> bool:
        args = dict(urllib.parse.parse_qsl(query.decode("latin-1")))
        try:
            k = int(args.get("k", "10"))
            diversity = float(args["diversity"]) if "diversity" in args else None
            flag = args.get("explain", "true").lower()
        except ValueError:
            return False
        if not 1 <= k <= MAX_K or (diversity is not None and not 0.0 <= diversity <= 1.0) or flag not in _TRUE | _FALSE:
            return False
        return self.service.cached_recommendations(user_id, k, diversity=diversity, explain=flag in _TRUE) is None


class BodyLimit:
    """413 for request bodies over ``max_bytes`` (declared length or streamed), before the app reads them."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                await _reply(send, 400, "invalid Content-Length header")
                return
            if too_big:
                await _reply(send, 413, f"request body larger than {self.max_bytes} bytes")
                return
            await self.app(scope, receive, send)
            return
        # No declared length (chunked): buffer up to the limit, then replay the body to the app.
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await _reply(send, 413, f"request body larger than {self.max_bytes} bytes")
                return
            chunks.append(body)
            more = bool(message.get("more_body", False))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _reply(send: Send, status: int, detail: str, *, request_id: str | None = None) -> None:
    payload: dict[str, str] = {"detail": detail}
    if request_id is not None:
        payload["request_id"] = request_id
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if request_id is not None:
        headers.append((b"x-request-id", request_id.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


#: On every response: no MIME sniffing, no referrer, no framing; JSON and text bodies also get a
#: policy that loads nothing (the web page and the API docs set or need their own).
_ALWAYS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
_NOTHING_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'")


def _security_headers(path: str) -> list[tuple[bytes, bytes]]:
    if path.startswith(("/docs", "/redoc", "/ui/")):
        return _ALWAYS
    return [*_ALWAYS, _NOTHING_CSP]


class Observe:
    """Request counts, latency histogram and one access-log line per request, by route *template*.

    Neither the raw path (user and item ids), the query string nor any body is logged.
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, responded = 500, False
        path = str(scope.get("path", ""))
        request_id = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id

        async def observed(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = int(message["status"]), True
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                extra = [(b"x-request-id", request_id.encode())] if b"x-request-id" not in present else []
                extra += [(k, v) for k, v in _security_headers(path) if k not in present]
                message = {**message, "headers": [*headers, *extra]}
            await send(message)

        try:
            await self.app(scope, receive, observed)
        except Exception as exc:
            # Handled here rather than by the server's default handler, which would log the exception
            # message, and messages may quote ids or text from the request: the type and stack only.
            route = getattr(scope.get("route"), "path", "unmatched")
            stack = "".join(traceback.format_tb(exc.__traceback__))
            method = scope.get("method")
            log.error("unhandled %s on %s %s (request %s)\n%s", type(exc).__name__, method, route, request_id, stack)
            status = 500
            if not responded:
                await _reply(send, 500, "internal error", request_id=request_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            method = str(scope.get("method", ""))
            self.metrics.requests.inc(method=method, route=route, status=str(status))
            self.metrics.latency.observe(elapsed, method=method, route=route)
            access_log.info("%s %s %d %.1fms", method, route, status, elapsed * 1000)
