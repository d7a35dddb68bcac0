"""Router speed: queries per second and p50/p99 latency per router, at batch 1 and batch 64 (8 at the tiny scale).

Routers are built untrained (``build`` with the paper's four expert names): training changes the
weights, not the shapes or the work per query, so the speed is the same. The ``embedding`` router
gets the paper experts' routing examples, as it would from a registry. Queries are the 95 real
questions of ``plugins/data/real_questions_dev.jsonl`` (cycled to fill batch 64).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from . import PAPER_EXPERTS, Context, median, percentile, real_questions

log = logging.getLogger("benchmarks.routing")
ROUTERS = ("bert-tiny", "minilm", "embedding")
WARMUP = 1


def build_router(kind: str, labels: Sequence[str] = PAPER_EXPERTS) -> Any:
    """An untrained router of ``kind`` over ``labels`` (the embedding router with the experts' examples)."""
    from mole_core import plugins

    spec = plugins.get_router_spec(kind)
    if kind == "embedding":
        examples = {name: list(plugins.get_expert_spec(name).routing.examples) for name in labels}
        return spec.build(list(labels), examples=examples)
    return spec.build(list(labels))


def batches(queries: list[str], size: int, count: int) -> list[list[str]]:
    """``count`` batches of ``size`` queries, walking through ``queries`` cyclically."""
    out, i = [], 0
    for _ in range(count):
        out.append([queries[(i + k) % len(queries)] for k in range(size)])
        i += size
    return out


def latencies(router: Any, work: list[list[str]]) -> list[float]:
    for batch in work[:WARMUP]:
        router.route(batch)
    seconds = []
    for batch in work:
        started = time.perf_counter()
        router.route(batch)
        seconds.append(time.perf_counter() - started)
    return seconds


def padded_tokens(router: Any, work: list[list[str]]) -> float | None:
    """Mean tokens per query after padding each batch to its longest query, cut where the routers cut
    (what the encoder computes)."""
    from mole_plugins.routers._classifier import tokenize

    tokenizer = getattr(router, "tokenizer", None)
    if tokenizer is None:
        return None
    lengths = [tokenize(tokenizer, b)["input_ids"].shape[1] for b in work]
    return sum(lengths) / len(lengths)


def measure(router: Any, size: int, calls: int, queries: list[str]) -> dict[str, Any]:
    work = batches(queries, size, calls)
    seconds = latencies(router, work)
    return {
        "padded_tokens_per_query": padded_tokens(router, work),
        "batch": size,
        "calls": calls,
        "qps": size * len(seconds) / sum(seconds),
        "p50_ms": 1000 * median(seconds),
        "p99_ms": 1000 * percentile(seconds, 99),
        "p99_is_max": calls < 100,
    }


def run(context: Context) -> dict[str, Any]:
    scale = context.scale
    queries = real_questions()
    out: dict[str, Any] = {}
    for kind in ROUTERS:
        started = time.perf_counter()
        router = build_router(kind)
        build_s = time.perf_counter() - started
        out[kind] = {
            "build_seconds": build_s,
            "batches": [measure(router, size, calls, queries) for size, calls in scale.route_batches],
        }
        for b in out[kind]["batches"]:
            log.info("%s batch %d: %.1f q/s, p50 %.1f ms", kind, b["batch"], b["qps"], b["p50_ms"])
        del router
    context.notes.append("routers built untrained: training changes weights, not the work per query")
    from mole_plugins.routers._classifier import MAX_LENGTH

    return {
        "routers": out,
        "labels": list(PAPER_EXPERTS),
        "queries": "plugins/data/real_questions_dev.jsonl",
        "max_length": MAX_LENGTH,
    }


if __name__ == "__main__":
    from . import section_main

    section_main(run)
