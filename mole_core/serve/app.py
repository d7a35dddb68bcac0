"""The ASGI app: OpenAI's endpoints over a :class:`Backend`, routed and framed by a :class:`Frontend`.

``create_app(settings, backend, front)`` wires the parts; :func:`mole_core.serve.server.build_app`
builds them from a registry. The app holds no model logic: it validates, authenticates, asks the
front to route, streams the backend's events as OpenAI chunks, and counts.
"""

from __future__ import annotations

import hmac
import logging
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import MoleError
from .answer import answer
from .backend import Backend
from .errors import BadRequest, RouteNotFound, ServeError, Unauthorized, internal_error_body
from .front import Frontend
from .limits import BodyLimit, CountRequests
from .metrics import CONTENT_TYPE, ServeMetrics
from .schemas import ChatCompletionRequest, CompletionRequest, ModelList
from .settings import ServeSettings

log = logging.getLogger(__name__)


def create_app(settings: ServeSettings, backend: Backend, front: Frontend) -> FastAPI:
    """An app serving ``front``'s registry through ``backend``; the backend starts with the app."""
    metrics = ServeMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        await backend.start(metrics)
        try:
            yield
        finally:
            await backend.stop()

    app = FastAPI(title="MoLE", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings, app.state.backend, app.state.front, app.state.metrics = (
        settings,
        backend,
        front,
        metrics,
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(CountRequests, metrics=metrics)  # added last: outermost, so it counts 413s too
    _add_error_handlers(app)
    key = settings.key()

    def authorize(request: Request) -> None:
        if key is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), key.encode()):
            raise Unauthorized("missing or wrong API key (send `Authorization: Bearer KEY`)")

    @app.get("/health")
    async def health() -> JSONResponse:
        status = {"experts": len(front.manifest.experts), **backend.health()}
        return JSONResponse(status, status_code=200 if status.get("status") == "ok" else 503)

    @app.get("/metrics")
    async def metrics_() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/v1/models", dependencies=[Depends(authorize)])
    async def models() -> ModelList:
        return ModelList(data=front.models())

    @app.get("/v1/models/{name}", dependencies=[Depends(authorize)])
    async def model(name: str) -> Any:
        for card in front.models():
            if card.id == name:
                return card
        raise RouteNotFound(f"the model {name!r} does not exist", param="model")

    @app.post("/v1/chat/completions", dependencies=[Depends(authorize)])
    async def chat(body: ChatCompletionRequest, request: Request) -> Response:
        return await answer(request, body, front=front, backend=backend, metrics=metrics)

    @app.post("/v1/completions", dependencies=[Depends(authorize)])
    async def completions(body: CompletionRequest, request: Request) -> Response:
        return await answer(request, body, front=front, backend=backend, metrics=metrics)

    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Every refusal in OpenAI's error shape; a bug is a bare 500 (its traceback goes to the log only)."""

    @app.exception_handler(ServeError)
    async def serve_error(request: Request, exc: ServeError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(MoleError)
    async def mole_error(request: Request, exc: MoleError) -> JSONResponse:
        return JSONResponse(BadRequest(str(exc)).body(), status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(_validation_error(exc).body(), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = RouteNotFound(str(exc.detail), code="not_found" if exc.status_code == 404 else "http_error")
        error.status = exc.status_code
        return JSONResponse(error.body(), status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return JSONResponse(internal_error_body(), status_code=500)


def _validation_error(exc: RequestValidationError) -> BadRequest:
    """The first problem, in one line, naming the field (never echoing the request body)."""
    errors = exc.errors()
    if not errors:
        return BadRequest("invalid request")
    first = errors[0]
    if first.get("type") == "json_invalid":
        return BadRequest("the request body is not valid JSON")
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    if not loc and first.get("type") in ("model_attributes_type", "dict_type", "missing"):
        return BadRequest("the request body must be a JSON object (Content-Type: application/json)")
    field = ".".join(loc) or None
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    return BadRequest(f"{field}: {message}" if field else message, param=field)
