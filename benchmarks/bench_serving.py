"""Serving throughput and latency: ``mole serve`` under 1, 4, 16 and 64 concurrent clients.

16 chat requests over 4 experts (the paper's test queries, each forced to its expert), greedy,
exactly ``max_new_tokens`` each (``min_tokens``), streamed, against:

- ``in_process_batch``: the same 16 queries as one ``MoLE.generate``-style batch in this process
  (routing, framing, one mixed-adapter ``generate``): the limit a server can approach;
- ``clients_1``: 16 sequential requests, one client;
- ``clients_4`` / ``clients_16``: the 16 requests from 4 / 16 concurrent clients;
- ``clients_64``: 64 requests (the 16 queries four times) from 64 clients.

The server runs in its own process (``python -m mole_core serve``, one torch thread like every
section); clients are asyncio + httpx in this process. Ways alternate, order rotated per repeat.
:func:`endpoint_ways` measures any OpenAI-compatible ``/v1`` URL the same way (another engine's row).
A check pass compares the server's greedy answers (no ``min_tokens``) with ``MoLE.generate``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from . import (
    PAPER_EXPERTS,
    RANK_CYCLE,
    ROOT,
    Context,
    assigned_router,
    base_source,
    make_adapters,
    median,
    new_registry,
    paper_queries,
    percentile,
    section_main,
)

log = logging.getLogger("benchmarks.serving")
CONCURRENCY = ((1, 16), (4, 16), (16, 16), (64, 64))  # (clients, requests)
TINY_CONCURRENCY = ((1, 16), (16, 16))  # what the targets read: the test suite's run stays short
Job = tuple[str, str]  # (model, query)


# -- clients -------------------------------------------------------------------------------------------------
async def _one(client: Any, url: str, job: Job, max_tokens: int, exact: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": job[0],
        "messages": [{"role": "user", "content": job[1]}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if exact:
        body["min_tokens"] = max_tokens
    started = time.perf_counter()
    first, parts, tokens = None, [], 0
    async with client.stream("POST", f"{url}/chat/completions", json=body) as response:
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {(await response.aread())[:300]!r}")
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            for choice in chunk.get("choices", []):
                text = (choice.get("delta") or {}).get("content") or ""
                if first is None and (text or choice.get("finish_reason")):
                    first = time.perf_counter() - started
                parts.append(text)
    return {"latency": time.perf_counter() - started, "ttft": first, "tokens": tokens, "text": "".join(parts)}


async def drive(
    url: str,
    jobs: Sequence[Job],
    clients: int,
    max_tokens: int,
    *,
    exact: bool = True,
    api_key: str | None = None,
) -> dict[str, Any]:
    """``jobs`` sent by ``clients`` concurrent clients (each one request at a time) to the OpenAI-compatible
    ``url`` (ending in /v1); wall seconds, generated tokens, per-request latency and time to first token."""
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    pending = list(enumerate(jobs))
    results: dict[int, dict[str, Any]] = {}
    async with httpx.AsyncClient(timeout=600, headers=headers, limits=limits) as client:

        async def worker() -> None:
            while pending:
                i, job = pending.pop(0)
                results[i] = await _one(client, url, job, max_tokens, exact)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        seconds = time.perf_counter() - started
    ordered = [results[i] for i in range(len(jobs))]
    return {
        "seconds": seconds,
        "tokens": sum(r["tokens"] for r in ordered),
        "latency": [r["latency"] for r in ordered],
        "ttft": [r["ttft"] if r["ttft"] is not None else r["latency"] for r in ordered],
        "texts": [r["text"] for r in ordered],
    }


def endpoint_ways(
    url: str,
    jobs: Sequence[Job],
    max_tokens: int,
    prefix: str = "",
    levels: Sequence[tuple[int, int]] = CONCURRENCY,
) -> dict[str, Callable[[], Any]]:
    """One way per (clients, requests) level against ``url``: MoLE's server here, another engine's for its row."""
    ways = {}
    for clients, requests in levels:
        batch = [jobs[i % len(jobs)] for i in range(requests)]
        ways[f"{prefix}clients_{clients}"] = lambda b=batch, c=clients: asyncio.run(
            drive(url, b, c, max_tokens)
        )
    return ways


# -- the server and the in-process batch ------------------------------------------------------------------
@contextlib.contextmanager
def mole_server(registry: Path, work: Path, threads: int, max_batch_size: int) -> Iterator[str]:
    """``python -m mole_core serve`` on a free loopback port; yields its /v1 URL, stops it afterwards."""
    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT), "MOLE_API_KEY": ""}
    cmd = [sys.executable, "-m", "mole_core", "serve", "--registry", str(registry), "--port", str(port)]
    cmd += ["--device", "cpu", "--max-batch-size", str(max_batch_size), "--max-queue", "1024"]
    logfile = (work / "serving-server.log").open("w")
    proc = subprocess.Popen(cmd, env=env, stdout=logfile, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mole serve exited with {proc.returncode}; see {logfile.name}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("mole serve did not come up in 10 minutes")
            time.sleep(0.5)
        yield f"{url}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        logfile.close()


def in_process_batch(mole: Any, queries: Sequence[str], max_tokens: int) -> dict[str, Any]:
    """What ``MoLE.generate`` does (route, frame, one mixed-adapter generate), with exactly ``max_tokens``
    per row so every way makes the same tokens."""
    import torch

    from mole_core.blending import route_weights

    started = time.perf_counter()
    weights = [route_weights(r, 1, mole.experts) for r in mole.route(queries)]
    per_row = [mole.adapter_for(w) for w in weights]
    prompts = mole.prompts(queries, max_tokens, [mole.template_for(w) for w in weights])
    special = not getattr(mole.tokenizer, "chat_template", None)
    batch = mole.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=special)
    kwargs = {"max_new_tokens": max_tokens, "min_new_tokens": max_tokens, "do_sample": False}
    kwargs.update(temperature=None, top_p=None, top_k=None, pad_token_id=mole.tokenizer.pad_token_id)
    first = _FirstToken()
    with torch.inference_mode(), mole.rows(per_row) as extra:
        out = mole.model.generate(**batch, **extra, **kwargs, streamer=first)
    seconds = time.perf_counter() - started
    tokens = int(out.shape[0] * (out.shape[1] - batch["input_ids"].shape[1]))
    ttft = [first.at - started] * len(queries) if first.at is not None else []
    return {
        "seconds": seconds,
        "tokens": tokens,
        "latency": [seconds] * len(queries),
        "ttft": ttft,
        "texts": [],
    }


class _FirstToken:
    """A ``generate`` streamer noting when the batch's first new tokens exist (its time to first token:
    every row gets its first token after the whole batch's prefill)."""

    def __init__(self) -> None:
        self.calls = 0
        self.at: float | None = None

    def put(self, value: Any) -> None:
        self.calls += 1
        if self.calls == 2:  # the first call hands over the prompt
            self.at = time.perf_counter()

    def end(self) -> None:
        pass


# -- the section ---------------------------------------------------------------------------------------------
def summarise_way(runs: list[dict[str, Any]]) -> dict[str, Any]:
    latency = [x for r in runs for x in r["latency"]]
    ttft = [x for r in runs for x in r["ttft"]]
    return {
        "requests": len(runs[0]["latency"]),
        "seconds": median([r["seconds"] for r in runs]),
        "tokens": runs[0]["tokens"],
        "tokens_per_s": median([r["tokens"] / r["seconds"] for r in runs]),
        "latency_p50": percentile(latency, 50),
        "latency_p99": percentile(latency, 99),
        "ttft_p50": percentile(ttft, 50) if ttft else None,
        "ttft_p99": percentile(ttft, 99) if ttft else None,
        "runs_seconds": [round(r["seconds"], 3) for r in runs],
    }


def paired(rounds: list[dict[str, dict[str, Any]]], a: str, b: str, key: Callable[[dict], float]) -> float:
    """Median over repeats of key(a) / key(b), both measured in the same repeat."""
    return median([key(r[a]) / key(r[b]) for r in rounds if a in r and b in r])


def run(ctx: Context) -> dict[str, Any]:
    from mole_core.runtime import MoLE

    scale = ctx.scale
    n = scale.max_new_tokens
    threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    source = base_source(scale.gen_model, ctx.work)
    pairs = paper_queries()
    registry = new_registry(ctx.work / "serving-registry", source)
    for name, path in zip(
        PAPER_EXPERTS, make_adapters(source, ctx.work / "adapters", RANK_CYCLE), strict=True
    ):
        registry.add_expert(name, path, task=f"the {name} expert")
    jobs = [(expert, query) for query, expert in pairs]
    mole = MoLE.from_registry(registry, device="cpu", router=assigned_router(dict(pairs), PAPER_EXPERTS))
    queries = [q for q, _ in pairs]
    repeats = 2 if scale.name == "full" else 1
    rounds: list[dict[str, dict[str, Any]]] = []
    with mole_server(registry.root, ctx.work, threads, max_batch_size=64) as url:
        levels = CONCURRENCY if scale.name == "full" else TINY_CONCURRENCY
        ways = {
            "in_process_batch": lambda: in_process_batch(mole, queries, n),
            **endpoint_ways(url, jobs, n, levels=levels),
        }
        asyncio.run(drive(url, jobs[:4], 4, 4))  # warm-up: first requests pay one-time costs
        for r in range(repeats):
            names = list(ways)
            order = names[r % len(names) :] + names[: r % len(names)]
            rounds.append({})
            for name in order:
                rounds[-1][name] = ways[name]()
                log.info("  repeat %d %-18s %.2fs", r + 1, name, rounds[-1][name]["seconds"])
        check = asyncio.run(drive(url, jobs, 16, n, exact=False))
        batch_sizes = _batch_sizes(url)
    expected = [g.text for g in mole.generate(queries, max_new_tokens=n)]
    summary = {name: summarise_way([r[name] for r in rounds]) for name in rounds[0]}
    throughput = lambda w: w["tokens"] / w["seconds"]  # noqa: E731
    return {
        "model": source,
        "max_new_tokens": n,
        "experts": list(PAPER_EXPERTS),
        "ranks": list(RANK_CYCLE),
        "repeats": repeats,
        "server": {"max_batch_size": 64, "threads": threads, "mean_batch_size": batch_sizes},
        "ways": summary,
        "ratios": {
            "clients_16_vs_in_process_throughput": paired(
                rounds, "clients_16", "in_process_batch", throughput
            ),
            "clients_1_vs_clients_16_seconds": paired(
                rounds, "clients_1", "clients_16", lambda w: w["seconds"]
            ),
        },
        "checks": {
            "greedy_equal_generate": sum(a == b for a, b in zip(check["texts"], expected, strict=True))
            / len(expected),
        },
    }


def _batch_sizes(url: str) -> float | None:
    """The server's mean rows per decode step, from its /metrics."""
    import httpx

    values = {}
    for line in httpx.get(url.removesuffix("/v1") + "/metrics").text.splitlines():
        name = line.split(" ")[0]
        if name in ("mole_batch_size_sum", "mole_batch_size_count"):
            values[name] = float(line.rsplit(" ", 1)[1])
    count = values.get("mole_batch_size_count")
    return values["mole_batch_size_sum"] / count if count else None


if __name__ == "__main__":
    import signal

    # terminated (e.g. a timeout upstream): unwind, so the server process is stopped too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    logging.getLogger("httpx").setLevel(logging.WARNING)
    section_main(run)


# -- report (run.py renders these) ---------------------------------------------------------------------------
def targets(section: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's serving targets, from the figures alone."""
    ratios, ways = section["ratios"], section["ways"]
    through, seq = ratios["clients_16_vs_in_process_throughput"], ratios["clients_1_vs_clients_16_seconds"]
    ttft = ways["clients_16"]["ttft_p99"]
    equal = section["checks"]["greedy_equal_generate"]
    return [
        _target(
            "serving: 16 concurrent clients over 4 experts",
            ">= 0.80x the in-process batch's throughput",
            f"{through:.2f}x",
            through >= 0.8,
        ),
        _target("serving vs 16 sequential requests", ">= 3x faster", f"{seq:.2f}x", seq >= 3.0),
        _target(
            "serving: p99 time to first token, 16 clients",
            "< 1 s",
            f"{ttft:.2f} s",
            ttft < 1.0,
            f"the in-process batch's own first token: {_ttft(ways['in_process_batch'])}; "
            f"greedy answers equal MoLE.generate's: {equal:.0%}",
        ),
    ]


def _ttft(way: dict[str, Any]) -> str:
    return "not measured" if way.get("ttft_p50") is None else f"{way['ttft_p50']:.2f} s"


def _target(name: str, goal: str, measured: str, passed: bool, note: str = "") -> dict[str, Any]:
    return {"name": name, "target": goal, "measured": measured, "pass": passed, "note": note}


def markdown(section: dict[str, Any]) -> list[str]:
    ways, server = section["ways"], section["server"]
    lines = [
        f"{len(section['experts'])} experts (random LoRA, ranks {'/'.join(map(str, section['ranks']))}) on "
        f"`{section['model'].rsplit('/', 1)[-1]}`; every request a chat completion forced to its query's expert, "
        f"greedy, exactly {section['max_new_tokens']} tokens (`min_tokens`), streamed. The server is "
        f"`mole serve` in its own process ({server['threads']} torch thread, max batch {server['max_batch_size']}); "
        "the clients (asyncio + httpx) share the machine. Median of "
        f"{section['repeats']} repeat(s), ways alternating; ratios are paired within a repeat.",
        "",
    ]
    rows = []
    for name, w in ways.items():
        ttft = "-" if w["ttft_p50"] is None else f"{w['ttft_p50']:.2f} / {w['ttft_p99']:.2f}"
        rows.append(
            [
                name,
                w["requests"],
                f"{w['seconds']:.2f}",
                f"{w['tokens_per_s']:.1f}",
                f"{w['latency_p50']:.2f} / {w['latency_p99']:.2f}",
                ttft,
            ]
        )
    header = ["way", "requests", "seconds", "tokens/s", "latency p50 / p99 (s)", "first token p50 / p99 (s)"]
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows] + [""]
    r = section["ratios"]
    mean = server.get("mean_batch_size")
    lines += [
        f"16 concurrent clients reach {r['clients_16_vs_in_process_throughput']:.2f}x the in-process batch's "
        f"throughput and finish {r['clients_1_vs_clients_16_seconds']:.2f}x faster than the same 16 requests "
        "sent one after another"
        + (f"; the server's decode steps averaged {mean:.1f} rows." if mean else ".")
        + (
            " Every row of the in-process batch gets its first token only after the whole batch's prefill"
            f" ({_ttft(ways['in_process_batch'])}), the floor for 16 requests arriving at once."
            if ways["in_process_batch"].get("ttft_p50") is not None
            else ""
        )
        + " Greedy answers (without `min_tokens`) equal `MoLE.generate`'s for "
        f"{section['checks']['greedy_equal_generate']:.0%} of the 16 queries.",
        "",
    ]
    return lines
