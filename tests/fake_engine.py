"""A small OpenAI-compatible multi-LoRA engine for tests: it records every request and answers with
text that shows which model (adapter) and prompt it was given, streamed word by word like vLLM."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

BASE_NAME = "fake/base-model"


def answer_text(model: str, prompt: str) -> str:
    return f"{model} got: {prompt}"


def create_engine(adapters: list[str], *, api_key: str | None = None) -> FastAPI:
    """The app; ``app.state.received`` lists every JSON body, ``app.state.fail`` = (status, body)
    makes the next requests fail, ``app.state.delay`` slows each streamed word."""
    app = FastAPI()
    app.state.received = []
    app.state.fail = None
    app.state.delay = 0.0
    app.state.closed = 0
    app.state.cut = None  # stop streaming after this many words, as an engine that dies does

    def refused(request: Request) -> JSONResponse | None:
        if api_key and request.headers.get("authorization") != f"Bearer {api_key}":
            return JSONResponse({"error": {"message": "bad key", "type": "auth", "code": 401}}, 401)
        if app.state.fail is not None:
            status, body = app.state.fail
            return JSONResponse(body, status) if isinstance(body, dict) else JSONResponse(body, status)
        return None

    @app.get("/v1/models")
    async def models(request: Request) -> Any:
        data = [{"id": BASE_NAME, "object": "model", "parent": None, "root": "/models/base"}]
        data += [{"id": a, "object": "model", "parent": BASE_NAME, "root": f"/a/{a}"} for a in adapters]
        return refused(request) or {"object": "list", "data": data}

    async def generate(request: Request, chat: bool) -> Any:
        body = await request.json()
        app.state.received.append(body)
        if (error := refused(request)) is not None:
            return error
        base, _, adapter = body["model"].partition(":")  # SGLang's "base:adapter" form too
        if body["model"] not in [BASE_NAME, *adapters] and not (base == BASE_NAME and adapter in adapters):
            return JSONResponse({"error": {"message": f"The model `{body['model']}` does not exist."}}, 404)
        prompt = body["messages"][-1]["content"] if chat else body["prompt"]
        words = answer_text(body["model"], prompt).split(" ")[: body.get("max_tokens", 16)]
        finish = "length" if len(words) == body.get("max_tokens") else "stop"
        if not body.get("stream"):
            text = " ".join(words)
            choice = {"message": {"role": "assistant", "content": text}} if chat else {"text": text}
            return {"choices": [{"index": 0, **choice, "finish_reason": finish}]}
        return StreamingResponse(stream(body, words, finish, chat), media_type="text/event-stream")

    async def stream(body: dict, words: list[str], finish: str, chat: bool) -> Any:
        try:
            for i, word in enumerate(words):
                if i == app.state.cut:
                    return
                await asyncio.sleep(app.state.delay)
                piece = word if i == 0 else " " + word
                choice = {"delta": {"content": piece}} if chat else {"text": piece}
                yield f"data: {json.dumps({'choices': [{'index': 0, **choice, 'finish_reason': None}]})}\n\n"
            last = {"delta": {}} if chat else {"text": ""}
            yield f"data: {json.dumps({'choices': [{'index': 0, **last, 'finish_reason': finish}]})}\n\n"
            usage = {"prompt_tokens": 7, "completion_tokens": len(words), "total_tokens": 7 + len(words)}
            if (body.get("stream_options") or {}).get("include_usage"):
                yield f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"
        finally:
            app.state.closed += 1

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        return await generate(request, chat=True)

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        return await generate(request, chat=False)

    return app
