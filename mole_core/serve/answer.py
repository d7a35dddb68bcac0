"""One request's answer: route and frame it, run it on the backend, return JSON or an SSE stream.

Streaming sends OpenAI chunks (the first carries the role and MoLE's routing info) and ends with
``data: [DONE]``; an error after the stream began is sent as one ``data: {"error": ...}`` event.
A client that goes away closes the backend's stream, which frees the request's batch row.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from .backend import Backend, GenerationRequest, TokenEvent, TokenStream
from .errors import ClientGone, ServeError, internal_error_body
from .front import Frontend
from .metrics import ServeMetrics
from .schemas import (
    ChatChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChunkChoice,
    Completion,
    CompletionChoice,
    CompletionRequest,
    Delta,
    MoleInfo,
    ResponseMessage,
    Usage,
)

log = logging.getLogger(__name__)
DISCONNECT_POLL_S = 0.25


async def answer(
    request: Request,
    body: ChatCompletionRequest | CompletionRequest,
    *,
    front: Frontend,
    backend: Backend,
    metrics: ServeMetrics,
) -> Response:
    started = time.perf_counter()
    gen = await front.prepare(body)
    stream = await backend.generate(gen)  # raises 429/503 before anything is sent
    metrics.expert_requests.labels(expert=gen.expert).inc()
    metrics.prompt_tokens.inc(len(gen.prompt_ids))
    timer = _Timer(metrics, gen, started, request.url.path)
    if body.stream:
        return StreamingResponse(
            _sse(stream, gen, timer, usage_chunk=body.wants_usage_chunk()),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    text, last = await _collect(stream, request, timer)
    return JSONResponse(_full(gen, text, last).model_dump(mode="json"))


class _Timer:
    """Time to first token and latency of one request, and its generated-token count, into metrics."""

    def __init__(self, metrics: ServeMetrics, gen: GenerationRequest, started: float, endpoint: str) -> None:
        self.metrics, self.gen, self.started, self.endpoint = metrics, gen, started, endpoint
        self.first = True

    def event(self, event: TokenEvent) -> None:
        if self.first:
            self.first = False
            self.metrics.ttft.observe(time.perf_counter() - self.started)
        if event.finish_reason is not None:
            self.metrics.latency.labels(endpoint=self.endpoint).observe(time.perf_counter() - self.started)
            self.metrics.completion_tokens.labels(expert=self.gen.expert).inc(event.completion_tokens)


async def _collect(stream: TokenStream, request: Request, timer: _Timer) -> tuple[str, TokenEvent]:
    """All of a stream's text; stops (and frees the row) if the client disconnects meanwhile."""
    parts: list[str] = []

    async def consume() -> TokenEvent:
        last = TokenEvent()
        async for event in stream:
            timer.event(event)
            parts.append(event.text)
            last = event
        return last

    task = asyncio.ensure_future(consume())
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=DISCONNECT_POLL_S)
            if done:
                return "".join(parts), task.result()
            if await request.is_disconnected():
                timer.metrics.disconnects.inc()
                task.cancel()
                raise ClientGone("the client closed the connection")
    finally:
        if not task.done():
            task.cancel()
        with anyio.CancelScope(shield=True):
            await stream.aclose()


def _info(gen: GenerationRequest) -> MoleInfo:
    return MoleInfo(expert=gen.expert, experts=gen.experts, scores=gen.scores)


def _usage(gen: GenerationRequest, event: TokenEvent) -> Usage:
    prompt = event.prompt_tokens or len(gen.prompt_ids)
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=event.completion_tokens,
        total_tokens=prompt + event.completion_tokens,
    )


def _full(gen: GenerationRequest, text: str, last: TokenEvent) -> ChatCompletion | Completion:
    created = int(time.time())
    usage = _usage(gen, last)
    if gen.kind == "chat":
        choice = ChatChoice(message=ResponseMessage(content=text), finish_reason=last.finish_reason)
        return ChatCompletion(
            id=gen.id, created=created, model=gen.expert, choices=[choice], usage=usage, mole=_info(gen)
        )
    choice = CompletionChoice(text=text, finish_reason=last.finish_reason)
    return Completion(
        id=gen.id, created=created, model=gen.expert, choices=[choice], usage=usage, mole=_info(gen)
    )


def _chunk(
    gen: GenerationRequest, created: int, text: str | None, finish: Any = None, *, first: bool = False
) -> dict[str, Any]:
    if gen.kind == "chat":
        delta = Delta(role="assistant", content="") if first else Delta(content=text)
        chunk: Any = ChatCompletionChunk(
            id=gen.id,
            created=created,
            model=gen.expert,
            choices=[ChunkChoice(delta=Delta() if finish else delta, finish_reason=finish)],
            mole=_info(gen) if first else None,
        )
    else:
        chunk = Completion(
            id=gen.id,
            created=created,
            model=gen.expert,
            choices=[CompletionChoice(text=text or "", finish_reason=finish)],
            mole=_info(gen) if first else None,
        )
    return chunk.model_dump(mode="json", exclude_none=gen.kind == "chat" and not first)


def _sse_line(data: Any) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _sse(
    stream: TokenStream, gen: GenerationRequest, timer: _Timer, *, usage_chunk: bool
) -> AsyncIterator[str]:
    created = int(time.time())
    finished = False
    try:
        yield _sse_line(_chunk(gen, created, "", first=True))
        async for event in stream:
            timer.event(event)
            if event.text:
                yield _sse_line(_chunk(gen, created, event.text))
            if event.finish_reason is not None:
                finished = True
                yield _sse_line(_chunk(gen, created, None, event.finish_reason))
                if usage_chunk:
                    usage = _usage(gen, event).model_dump()
                    yield _sse_line(
                        {
                            "id": gen.id,
                            "object": _object(gen),
                            "created": created,
                            "model": gen.expert,
                            "choices": [],
                            "usage": usage,
                        }
                    )
        yield "data: [DONE]\n\n"
    except ServeError as exc:
        yield _sse_line(exc.body())
    except (asyncio.CancelledError, GeneratorExit):
        if not finished:
            timer.metrics.disconnects.inc()
        raise
    except Exception:
        log.exception("stream of %s failed", gen.id)
        yield _sse_line(internal_error_body())
    finally:
        with anyio.CancelScope(shield=True):
            await stream.aclose()


def _object(gen: GenerationRequest) -> str:
    return "chat.completion.chunk" if gen.kind == "chat" else "text_completion"
