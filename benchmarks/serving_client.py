"""A load client for any OpenAI-compatible server (MoLE's, vLLM's, ...): N concurrent streaming chat
requests, measured from the client's side.

``measure(base_url, jobs, concurrency=16, max_tokens=32)`` sends every ``(model, query)`` job as a
greedy streaming chat request, at most ``concurrency`` at once, and returns wall time, generated
tokens per second, and p50/p99 of latency and time to first token. Tokens are the server's
``usage.completion_tokens`` (requested with ``stream_options.include_usage``), else content chunks.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

from . import median, percentile


async def _one(
    client: Any, url: str, model: str, query: str, max_tokens: int, extra: dict[str, Any]
) -> dict[str, Any]:
    body = {
        **extra,
        "model": model,
        "messages": [{"role": "user", "content": query}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    first: float | None = None
    chunks, usage, text = 0, None, []
    async with client.stream("POST", url + "/chat/completions", json=body) as response:
        if response.status_code != 200:
            detail = (await response.aread()).decode("utf-8", "replace")[:200]
            return {"error": f"HTTP {response.status_code}: {detail}"}
        async for line in response.aiter_lines():
            if not line.startswith("data:") or line.strip() == "data: [DONE]":
                continue
            chunk = json.loads(line[5:])
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    first = first if first is not None else time.perf_counter()
                    chunks += 1
                    text.append(piece)
    done = time.perf_counter()
    tokens = (usage or {}).get("completion_tokens") or chunks
    return {
        "latency": done - started,
        "ttft": (first or done) - started,
        "tokens": tokens,
        "text": "".join(text),
    }


async def _run(
    base_url: str,
    jobs: Sequence[tuple[str, str]],
    concurrency: int,
    max_tokens: int,
    api_key: str | None,
    extra: dict[str, Any],
) -> tuple[float, list[dict[str, Any]]]:
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(900.0), limits=limits) as client:

        async def job(model: str, query: str) -> dict[str, Any]:
            async with gate:
                return await _one(client, base_url.rstrip("/"), model, query, max_tokens, extra)

        started = time.perf_counter()
        results = await asyncio.gather(*(job(m, q) for m, q in jobs))
        return time.perf_counter() - started, list(results)


def measure(
    base_url: str,
    jobs: Sequence[tuple[str, str]],
    *,
    concurrency: int = 16,
    max_tokens: int = 32,
    api_key: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Send ``jobs`` ((model, query) pairs) to ``base_url`` (``http://host:port/v1``); the figures.

    ``extra`` joins every request body (e.g. vLLM's ``{"ignore_eos": true}``, so every answer is
    exactly ``max_tokens`` long, as the in-process generation figures are)."""
    seconds, results = asyncio.run(_run(base_url, jobs, concurrency, max_tokens, api_key, extra or {}))
    ok = [r for r in results if "error" not in r]
    errors = [r["error"] for r in results if "error" in r]
    tokens = sum(r["tokens"] for r in ok)
    latency = [r["latency"] for r in ok]
    ttft = [r["ttft"] for r in ok]
    return {
        "requests": len(jobs),
        "concurrency": concurrency,
        "max_tokens": max_tokens,
        "seconds": seconds,
        "completion_tokens": tokens,
        "tokens_per_s": tokens / seconds if seconds else 0.0,
        "latency_p50": median(latency) if ok else None,
        "latency_p99": percentile(latency, 99) if ok else None,
        "ttft_p50": median(ttft) if ok else None,
        "ttft_p99": percentile(ttft, 99) if ok else None,
        "errors": errors[:3],
        "error_count": len(errors),
        "texts": [r.get("text", "") for r in results],
    }
