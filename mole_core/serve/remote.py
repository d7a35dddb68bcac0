"""A :class:`~mole_core.serve.backend.Backend` that forwards to an OpenAI-compatible multi-LoRA engine.

The front has already routed and framed the request; this backend only names the adapter
(``model=<expert>``, or the engine's own name for the bare base), streams the engine's answer back
token by token, and turns whatever goes wrong at the engine into an OpenAI-shaped error. It holds no
weights, so any number of these front-ends can stand before one engine (or a load balancer of them).

Chat requests go to the engine's ``/chat/completions`` with the framed conversation (the engine applies
the same base model's chat template); completions go to ``/completions`` with the framed prompt.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from .backend import GenerationRequest, TokenEvent
from .errors import BadRequest, ContextTooLong, EngineError, EngineUnavailable, QueueFull
from .metrics import ServeMetrics
from .settings import ServeSettings

log = logging.getLogger(__name__)

HEALTH_INTERVAL = 5.0


class EngineBadGateway(EngineError):
    """The remote engine failed or answered with something unusable (502)."""

    status = 502


class EngineTimeout(EngineError):
    """The remote engine did not answer in time (504)."""

    status = 504
    code = "engine_timeout"


class RemoteBackend:
    """Forwards routed requests to ``settings.engine_url`` (an OpenAI base URL, ``http://host:8001/v1``).

    At most ``max_batch_size + max_queue`` requests are in flight at once; one more is a 429 here
    rather than a pile-up at the engine.
    """

    def __init__(self, settings: ServeSettings) -> None:
        if not settings.engine_url:
            raise BadRequest("the remote backend needs an engine URL")
        self.url = settings.engine_url.rstrip("/")
        self.shown = str(httpx.URL(self.url).copy_with(username=None, password=None))  # no credentials shown
        self.base_model: str | None = None
        key = settings.engine_api_key.get_secret_value() if settings.engine_api_key else None
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._timeout = httpx.Timeout(settings.engine_timeout, connect=min(settings.engine_timeout, 10.0))
        self._limit = settings.max_batch_size + settings.max_queue
        self._model_format = settings.engine_model
        self._in_flight = 0
        self._metrics: ServeMetrics | None = None
        self._client: httpx.AsyncClient | None = None
        self._watch: asyncio.Task[None] | None = None
        self._state: dict[str, Any] = {"status": "starting", "engine": self.shown}

    # -- lifecycle ----------------------------------------------------------------------------------
    async def start(self, metrics: ServeMetrics) -> None:
        """Open the connection pool and watch the engine; a down engine is reported, not fatal."""
        self._metrics = metrics
        self._client = httpx.AsyncClient(headers=self._headers, timeout=self._timeout, follow_redirects=False)
        await self.refresh()
        if self._state["status"] != "ok":
            log.warning("engine %s: %s (requests get 503 until it answers)", self.shown, self._state["error"])
        self._watch = asyncio.create_task(self._watch_loop())

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def health(self) -> dict[str, Any]:
        return dict(self._state)

    async def refresh(self) -> None:
        """Ask the engine which models it serves; learn the base model's name from it."""
        try:
            response = await self._http().get(f"{self.url}/models", timeout=self._timeout.connect)
            response.raise_for_status()
            ids = [m["id"] for m in response.json()["data"]]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            self._state = {"status": "unavailable", "engine": self.shown, "error": _describe(exc)}
            return
        if self.base_model is None:
            parents = {m.get("parent") for m in response.json()["data"]} - {None}
            roots = [i for i in ids if i in parents] or ids[:1]
            self.base_model = roots[0] if roots else None
        self._state = {"status": "ok", "engine": self.shown, "engine_models": len(ids)}

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_INTERVAL)
            await self.refresh()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            raise EngineUnavailable("the server is not started")
        return self._client

    # -- requests -----------------------------------------------------------------------------------
    async def generate(self, request: GenerationRequest) -> RemoteStream:
        """Send ``request`` with ``stream=true``; errors before the first byte become HTTP errors."""
        path, body = self.payload(request)
        if self._in_flight >= self._limit:
            raise QueueFull(f"{self._limit} requests are in flight already; retry later")
        self._in_flight += 1
        self._gauge()
        try:
            response = await self._open(path, body)
        except BaseException:
            self._done()
            raise
        return RemoteStream(response, self.shown, on_close=self._done)

    def _done(self) -> None:
        self._in_flight -= 1
        self._gauge()

    def _gauge(self) -> None:
        if self._metrics is not None:
            self._metrics.running.set(self._in_flight)

    async def _open(self, path: str, body: dict[str, Any]) -> httpx.Response:
        client = self._http()
        try:
            response = await client.send(
                client.build_request("POST", self.url + path, json=body), stream=True
            )
        except httpx.TimeoutException:
            raise EngineTimeout(f"the engine at {self.shown} did not answer in time") from None
        except httpx.TransportError as exc:
            self._state = {"status": "unavailable", "engine": self.shown, "error": _describe(exc)}
            raise EngineUnavailable(
                f"the engine at {self.shown} is not reachable ({_describe(exc)})"
            ) from None
        if response.status_code != 200:
            text = (await response.aread()).decode("utf-8", "replace")
            await response.aclose()
            raise engine_error(response.status_code, text, body["model"])
        return response

    def payload(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        """The engine endpoint and JSON body for a routed request."""
        if len(request.experts) > 1:
            raise BadRequest(
                "blending experts (mole_top_k > 1) needs the embedded engine", param="mole_top_k"
            )
        if self.base_model is None and (not request.experts or "{base}" in self._model_format):
            raise EngineUnavailable(f"the engine at {self.shown} has not said which base model it serves")
        if request.experts:
            name = next(iter(request.experts))
            model = self._model_format.replace("{base}", self.base_model or "").replace("{expert}", name)
        else:
            model = self.base_model
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.stop:
            body["stop"] = request.stop
        if request.min_tokens:
            body["min_tokens"] = request.min_tokens  # vLLM's own extension of the same name
        if request.kind == "chat" and request.messages is not None:
            return "/chat/completions", {**body, "messages": request.messages}
        return "/completions", {**body, "prompt": request.prompt}


class RemoteStream:
    """The engine's SSE answer as :class:`TokenEvent`s; closing it drops the connection, which makes
    the engine abort the request (vLLM does on disconnect)."""

    def __init__(self, response: httpx.Response, url: str, on_close: Callable[[], None]) -> None:
        self._response = response
        self._url = url
        self._on_close: Callable[[], None] | None = on_close
        self._complete = False  # [DONE] seen: a stream that just stops is a failure, not an answer

    def __aiter__(self) -> AsyncIterator[TokenEvent]:
        return self._events()

    async def aclose(self) -> None:
        await self._response.aclose()
        if self._on_close is not None:  # once, however often it is closed
            self._on_close, done = None, self._on_close
            done()

    async def _events(self) -> AsyncIterator[TokenEvent]:
        finish: str | None = None
        usage: dict[str, Any] = {}
        pieces = 0
        try:
            async for chunk in self._chunks():
                if "error" in chunk:
                    raise EngineBadGateway(f"the engine failed mid-answer: {_message(chunk)}")
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices") or []:
                    text = choice.get("text") or (choice.get("delta") or {}).get("content") or ""
                    finish = choice.get("finish_reason") or finish
                    if text:
                        pieces += 1
                        yield TokenEvent(text=text)
        except httpx.TimeoutException:
            raise EngineTimeout(f"the engine at {self._url} stopped answering mid-stream") from None
        except httpx.TransportError as exc:
            raise EngineBadGateway(f"the engine connection broke mid-answer ({_describe(exc)})") from None
        finally:
            await self.aclose()
        if not self._complete and finish is None:
            raise EngineBadGateway("the engine's stream ended before the answer did (did the engine die?)")
        yield TokenEvent(
            finish_reason="length" if finish == "length" else "stop",
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or pieces),
        )

    async def _chunks(self) -> AsyncIterator[dict[str, Any]]:
        async for line in self._response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                self._complete = True
                return
            try:
                chunk = json.loads(data)
            except json.JSONDecodeError:
                raise EngineBadGateway("the engine sent a stream chunk that is not JSON") from None
            if isinstance(chunk, dict):
                yield chunk


def engine_error(status: int, text: str, model: str) -> EngineError | BadRequest | QueueFull:
    """The OpenAI error for an engine's refusal: the client's fault stays 4xx, the engine's is 502."""
    message = _message(_json(text)) or text.strip()[:200] or f"status {status}"
    if status == 400 and "context" in message.lower():
        return ContextTooLong(f"the engine refused the prompt: {message}", param="messages")
    if status in (400, 422):
        return BadRequest(f"the engine refused the request: {message}")
    if status in (401, 403):
        return EngineBadGateway("the engine refused MoLE's credentials (check --engine-api-key)")
    if status == 404:
        return EngineBadGateway(
            f"the engine does not serve {model!r} (launch it with the args of `mole export vllm`): {message}"
        )
    if status == 429:
        return QueueFull(f"the engine is busy: {message}")
    if status == 503:
        return EngineUnavailable(f"the engine is unavailable: {message}")
    return EngineBadGateway(f"the engine failed (status {status}): {message}")


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _message(data: Any) -> str:
    """The one-line message of an OpenAI-style (or FastAPI-style) error body."""
    if not isinstance(data, dict):
        return ""
    error = data.get("error", data)
    raw = error.get("message") or error.get("detail") if isinstance(error, dict) else error
    return " ".join(str(raw or "").split())[:300]


def _describe(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__
