"""One registry measured in a fresh process (started by ``bench_experts``): start-up, memory, cold experts.

``python -m benchmarks.bench_experts probe REGISTRY CACHE MIXED TOKENS OUT.json``. Start-up is
``MoLE.from_registry`` with the registry's saved router and ``max_loaded_experts=CACHE``; resident
memory is read after ``gc`` and ``malloc_trim`` relative to the process before loading. A cold expert's
first answer is timed next to its second; the bytes the process read while attaching it come from
``/proc/self/io`` (``rchar``) and are compared with its weight file's size. The mixed batch sends 16
queries to MIXED distinct experts, timed with the cache of CACHE and with every adapter attached.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import time
from pathlib import Path
from typing import Any

from . import assigned_router, median, quiet, set_threads

QUERY = "how does tax law case 7 work"


def settled_rss() -> int:
    import psutil

    gc.collect()
    with contextlib.suppress(OSError):  # not glibc
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return psutil.Process().memory_info().rss


def rchar() -> int:
    """Bytes this process has read through read() calls so far (page cache included)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def seconds(fn: Any) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def cold_expert(mole: Any, tokens: int) -> dict[str, Any]:
    """Attach one cold expert (bytes read vs its file), then the first and second answer of another."""
    names = [n for n in mole.experts if n not in mole.cache]
    mole.ensure_loaded(
        names[:1]
    )  # the process's first attach imports PEFT's modules: not part of a cold expert
    first, second = names[-1], names[-2]
    size = (
        (mole.registry.expert_dir(mole.registry.get_expert(first)) / "adapter_model.safetensors")
        .stat()
        .st_size
    )
    before = rchar()
    attach_s, _ = seconds(lambda: mole.ensure_loaded([first]))
    read = rchar() - before
    run = lambda: mole.generate([QUERY], expert=second, max_new_tokens=tokens)  # noqa: E731
    cold_s, _ = seconds(run)
    warm_s, _ = seconds(run)
    return {
        "attach_s": attach_s,
        "bytes_read": read,
        "file_bytes": size,
        "reads_per_file": read / size if size else None,
        "first_answer_s": cold_s,
        "warm_answer_s": warm_s,
    }


def mixed_batch(mole: Any, distinct: int, tokens: int, cache: int, repeats: int = 2) -> dict[str, Any]:
    """16 queries over ``distinct`` experts: with the cache of ``cache``, then every adapter attached."""
    names = mole.experts[:distinct]
    queries = [f"query {i} for {names[i % distinct]}" for i in range(16)]
    mole._router = assigned_router({q: names[i % distinct] for i, q in enumerate(queries)}, mole.experts)
    run = lambda: [g.text for g in mole.generate(queries, max_new_tokens=tokens)]  # noqa: E731
    first_s, capped_texts = seconds(run)
    capped, every, loads = [], [], []
    for _ in range(repeats):
        mole.cache.resize(cache)
        before = mole.cache.snapshot().loads
        capped.append(seconds(run)[0])
        loads.append(mole.cache.snapshot().loads - before)
        mole.cache.resize(None)
        _, all_texts = seconds(run)  # attaches the rest: the timed run below is warm
        every.append(seconds(run)[0])
    return {
        "distinct": distinct,
        "first_s": first_s,
        "capped_s": median(capped),
        "all_loaded_s": median(every),
        "capped_vs_all": median([c / a for c, a in zip(capped, every, strict=True)]),
        "loads_per_capped_batch": median(loads),
        "answers_equal": capped_texts == all_texts,
    }


def has_router(registry_dir: str) -> bool:
    from mole_core import Registry

    return Registry(registry_dir).load().router is not None


def main(argv: list[str]) -> None:
    registry_dir, cache, distinct, tokens, out = argv
    quiet()
    set_threads(1)
    from mole_core.runtime import MoLE

    base_rss = settled_rss()
    startup_s, mole = seconds(
        lambda: MoLE.from_registry(registry_dir, max_loaded_experts=int(cache), device="cpu")
    )
    result: dict[str, Any] = {
        "experts": len(mole.experts),
        "startup_s": startup_s,
        "rss_after_start": settled_rss() - base_rss,
        "loaded_at_start": len(mole.cache.loaded),
    }
    if mole._router is not None:  # the tiny scale saves none (no MiniLM to load in tests)
        queries = [f"question {i} about something" for i in range(16)]
        mole.route(queries)
        result["route16_s"] = median([seconds(lambda: mole.route(queries))[0] for _ in range(5)])
    if len(mole.experts) > int(cache) + 2:
        result["cold"] = cold_expert(mole, int(tokens))
    result["mixed"] = mixed_batch(mole, int(distinct), int(tokens), int(cache))
    result["rss_end"] = settled_rss() - base_rss
    result["cache"] = mole.cache.snapshot().model_dump(exclude={"loaded", "pinned"})
    Path(out).write_text(json.dumps(result, indent=2))
