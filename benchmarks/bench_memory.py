"""Memory of base + N adapters against N full models, measured on live tensors and resident memory.

One base model is loaded, then adapters are registered and attached one at a time through the real
path (``Registry.add_expert`` then ``MoLE.add_expert``), recording what each attachment adds to the
resident set next to that adapter's own tensor bytes. Full models (base with one expert merged in)
are really loaded for N <= ``full_models``; beyond that their cost is the measured per-model cost
times N, and the result says it was extrapolated. Run in a fresh process so resident memory starts
clean.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import time
from pathlib import Path
from typing import Any

from . import RANK_CYCLE, Context, assigned_router, base_source, make_adapters, new_registry, paper_queries

log = logging.getLogger("benchmarks.memory")


def trim() -> None:
    """Collect garbage and hand freed heap back to the OS, so RSS shows what is held, not what was."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: RSS may include freed-but-kept heap
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def rss() -> int:
    from mole_core.memory import rss as process_rss

    trim()
    return process_rss()


def touch(model: Any) -> None:
    """Read every weight once. transformers memory-maps safetensors files, and PEFT's
    ``low_cpu_mem_usage`` loading assigns the adapter file's tensors as they are, so weights become
    resident only when first read; serving reads them all, so every figure here is taken after this."""
    from mole_core.memory import touch as touch_tensors

    touch_tensors([*model.parameters(), *model.buffers()])


def model_bytes(model: Any) -> int:
    from mole_core.memory import tensor_bytes

    return tensor_bytes(list(model.parameters()) + list(model.buffers()))


def attach_all(
    mole: Any, registry: Any, adapters: list[Path], n_max: int, checkpoints: tuple[int, ...], start_rss: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Register and attach experts e000.. one by one; per attachment and per checkpoint N, the bytes."""
    from mole_core.memory import adapter_tensors, tensor_bytes
    from mole_core.memory import touch as touch_tensors

    per_expert: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    after = rss()
    for i in range(n_max):
        source = adapters[i % len(adapters)]
        entry = registry.add_expert(f"e{i:03d}", source)
        before = after  # registering copies files; it leaves nothing resident (one RSS read per step)
        started = time.perf_counter()
        mole.add_expert(entry)
        attach_s = time.perf_counter() - started
        tensors = adapter_tensors(mole.model, entry.name)
        touch_tensors(tensors)  # memory-mapped until first read; a batch for this expert reads them all
        after = rss()
        size = tensor_bytes(tensors)
        per_expert.append(
            {
                "name": entry.name,
                "rank": entry.rank,
                "tensor_bytes": size,
                "rss_delta_bytes": after - before,
                "attach_s": attach_s,
            }
        )
        if i + 1 in checkpoints:
            rows.append(
                {
                    "n": i + 1,
                    "mole_tensor_bytes": model_bytes(mole.model),
                    "mole_rss_bytes": after,
                    "mole_rss_delta_bytes": after - start_rss,
                }
            )
            log.info(
                "N=%d: tensors %.1f MB, RSS %.1f MB", i + 1, rows[-1]["mole_tensor_bytes"] / 1e6, after / 1e6
            )
            if i + 1 >= 4 and i + 1 in (4, n_max):
                rows[-1]["mixed4_speed_vs_base_rows"] = mixed_vs_base(mole)
                after = rss()  # the timing's stacks are gone again
    return per_expert, rows


def mixed_vs_base(mole: Any, tokens: int = 16, repeats: int = 2) -> float:
    """A 4-expert mixed batch's speed relative to all-base rows of the same system (alternated).

    Timed here because this is where a real model has many adapters attached: the fast path stacks only
    the adapters a batch uses, so this should not change with the number attached.
    """
    from mole_core import MoLE

    from . import alternate, median

    queries = [q for q, _ in paper_queries()]
    names = mole.experts[:4]
    assignment = {q: names[i % len(names)] for i, q in enumerate(queries)}
    runner = MoLE(
        mole.registry, mole.manifest, mole.model, mole.tokenizer, assigned_router(assignment, mole.experts)
    )
    ways = {
        "mixed": lambda: runner.generate(queries, max_new_tokens=tokens),
        "base": lambda: runner.generate(queries, max_new_tokens=tokens, expert="base"),
    }
    alternate(ways, 1)  # warm: stacks built
    rounds = alternate(ways, repeats)
    return median([r["base"] / r["mixed"] for r in rounds])


def full_models(source: str, adapters: list[Path], count: int) -> list[dict[str, Any]]:
    """Load ``count`` merged full models side by side; each one's tensor bytes and RSS delta."""
    from peft import PeftModel

    from . import load_base

    keep: list[Any] = []
    out = []
    for i in range(count):
        before = rss()
        merged = PeftModel.from_pretrained(
            load_base(source), str(adapters[i % len(adapters)])
        ).merge_and_unload()
        touch(merged)
        keep.append(merged)
        after = rss()
        out.append({"tensor_bytes": model_bytes(merged), "rss_delta_bytes": after - before})
    del keep
    trim()
    return out


def after_mixed_batch(mole: Any, max_new_tokens: int) -> dict[str, Any]:
    """RSS after one mixed 16-query batch over the first four experts (fast path, if any, included)."""
    from mole_core import MoLE

    queries = paper_queries()
    names = mole.experts[:4]
    assignment = {q: names[i % len(names)] for i, (q, _) in enumerate(queries)}
    runner = MoLE(
        mole.registry, mole.manifest, mole.model, mole.tokenizer, assigned_router(assignment, mole.experts)
    )
    before = rss()
    runner.generate([q for q, _ in queries], max_new_tokens=max_new_tokens)
    after = rss()
    return {
        "rss_before": before,
        "rss_after": after,
        "rss_delta_bytes": after - before,
        "fast_path": getattr(runner, "_mixed", None) is not None,
        "all_adapters_tensor_bytes": sum(model_bytes_of(mole, n) for n in mole.experts),
        "batch_adapters_tensor_bytes": sum(model_bytes_of(mole, n) for n in names),
    }


def model_bytes_of(mole: Any, name: str) -> int:
    from mole_core.memory import adapter_tensors, tensor_bytes

    return tensor_bytes(adapter_tensors(mole.model, name))


def measure_model(model: str, context: Context) -> dict[str, Any]:
    from mole_core import MoLE

    scale = context.scale
    work = context.work / f"memory-{model}"
    source = base_source(model, context.work)
    adapters = make_adapters(source, context.work / f"adapters-{model}", RANK_CYCLE)
    start = rss()
    registry = new_registry(work / "registry", source)
    mole = MoLE.from_registry(registry, load_router=False)
    touch(mole.model)
    base_rss = rss()
    base_bytes = model_bytes(mole.model)
    per_expert, rows = attach_all(mole, registry, adapters, max(scale.memory_n), scale.memory_n, start)
    batch = after_mixed_batch(mole, 4)  # stacks are built on the first forward: a few tokens suffice
    full = full_models(source, adapters, scale.full_models)
    per_full_bytes = sum(f["tensor_bytes"] for f in full) / len(full)
    per_full_rss = sum(f["rss_delta_bytes"] for f in full) / len(full)
    for row in rows:
        n = row["n"]
        measured = n <= len(full)
        row["full_tensor_bytes"] = (
            sum(f["tensor_bytes"] for f in full[:n]) if measured else int(per_full_bytes * n)
        )
        row["full_rss_bytes"] = (
            sum(f["rss_delta_bytes"] for f in full[:n]) if measured else int(per_full_rss * n)
        )
        row["full_extrapolated"] = not measured
        row["saved_tensor_fraction"] = 1 - row["mole_tensor_bytes"] / row["full_tensor_bytes"]
        row["saved_rss_fraction"] = (
            1 - row["mole_rss_delta_bytes"] / row["full_rss_bytes"] if row["full_rss_bytes"] > 0 else None
        )
    return {
        "model": source,
        "process_rss_before_load": start,
        "base_tensor_bytes": base_bytes,
        "base_rss_delta_bytes": base_rss - start,
        "rows": rows,
        "per_expert": per_expert,
        "rss_per_tensor_byte": attach_ratios(per_expert),
        "full_models_measured": full,
        "after_mixed_batch": batch,
    }


def attach_ratios(per_expert: list[dict[str, Any]]) -> dict[str, float]:
    """RSS added per attachment over the adapter's tensor bytes (1.0 = exactly its tensors): median,
    min, max, the share within 10%, and a least-squares fit RSS = slope * tensor bytes + fixed, whose
    ``fixed`` part is what every adapter costs beyond its tensors (PEFT's modules and bookkeeping)."""
    from . import median

    ratios = [e["rss_delta_bytes"] / e["tensor_bytes"] for e in per_expert if e["tensor_bytes"]]
    xs = [float(e["tensor_bytes"]) for e in per_expert]
    ys = [float(e["rss_delta_bytes"]) for e in per_expert]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else float("nan")
    return {
        "median": median(ratios),
        "min": min(ratios),
        "max": max(ratios),
        "within_10pct": sum(0.9 <= r <= 1.1 for r in ratios) / len(ratios),
        "fit_slope": slope,
        "fit_fixed_bytes": my - slope * mx if var else float("nan"),
    }


def run(context: Context) -> dict[str, Any]:
    out = {model: measure_model(model, context) for model in context.scale.memory_models}
    context.notes.append(
        f"full models: {context.scale.full_models} really loaded (merged) per model; larger N is that "
        "per-model cost times N (extrapolated)"
    )
    context.notes.append(
        "RSS read after gc + malloc_trim, so freed heap is not counted as held; every weight "
        "read once first (transformers memory-maps safetensors: unread weights are not resident)"
    )
    return {"models": out}


if __name__ == "__main__":
    from . import section_main

    section_main(run)
