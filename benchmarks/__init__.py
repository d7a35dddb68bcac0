"""Measured benchmarks of MoLE: memory, routing, generation and adapter scaling (``python -m benchmarks.run``).

Shared pieces live here: the two scales, timing with alternation and medians, the machine description,
models and random LoRA adapters built on the spot (no training, no downloads), and the small CLI every
section module exposes so that ``run`` can start each section in a fresh process (clean resident
memory, no threads or caches left over from the previous section).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "plugins" / "data"
from mole_plugins.experts import PAPER_EXPERTS as _PAPER  # noqa: E402 - the paper's experts, said once

from mole_core.specs import LLAMA_TARGETS as TARGETS  # noqa: E402 - the one Llama target list

PAPER_EXPERTS = tuple(name for name, *_ in _PAPER)
RANK_CYCLE = tuple(rank for _, rank, *_ in _PAPER)

log = logging.getLogger("benchmarks")


@dataclass(frozen=True)
class Scale:
    """How much to measure. ``tiny`` keeps the test suite's run to seconds; ``full`` is what docs/ shows."""

    name: str
    gen_model: str  # "tiny" or "smollm2": the model of the generation and add-expert figures
    memory_models: tuple[str, ...]
    memory_n: tuple[int, ...]
    full_models: int
    route_batches: tuple[tuple[int, int], ...]  # (batch size, timed calls)
    gen_repeats: int
    gen_slow_repeats: int  # one query at a time: the slowest way, run fewer times
    max_new_tokens: int
    bf16_repeats: int
    add_expert_trials: int
    scaling_model: str
    scaling_n: tuple[int, ...]
    scaling_rank: int
    scaling_repeats: int


SCALES: dict[str, Scale] = {
    "tiny": Scale(
        name="tiny",
        gen_model="tiny",
        memory_models=("tiny",),
        memory_n=(1, 2, 4),
        full_models=2,
        route_batches=((1, 5), (8, 2)),
        gen_repeats=2,
        gen_slow_repeats=1,
        max_new_tokens=8,
        bf16_repeats=1,
        add_expert_trials=2,
        scaling_model="tiny",
        scaling_n=(1, 4, 10),
        scaling_rank=4,
        scaling_repeats=2,
    ),
    "full": Scale(
        name="full",
        gen_model="smollm2",
        memory_models=("tiny", "smollm2"),
        memory_n=(1, 4, 16, 64),
        full_models=2,
        route_batches=((1, 100), (64, 10)),
        gen_repeats=3,
        gen_slow_repeats=1,
        max_new_tokens=32,
        bf16_repeats=2,
        add_expert_trials=3,
        scaling_model="tiny",
        scaling_n=(1, 10, 100),
        scaling_rank=4,
        scaling_repeats=4,
    ),
}


# -- statistics and timing ---------------------------------------------------------------------------------
def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100): with few samples p99 is simply the slowest."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return float(ordered[rank - 1])


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds one call took (after a garbage collection, so no earlier garbage is collected inside)."""
    gc.collect()
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def alternate(
    ways: dict[str, Callable[[], Any]],
    repeats: int,
    only_first: dict[str, int] | None = None,
    outputs: dict[str, Any] | None = None,
) -> list[dict[str, float]]:
    """Run every way once per repeat, rotating the order, so drifting machine load hits all ways alike.

    ``only_first`` limits a slow way to its first N repeats; ``outputs`` (if given) receives each way's
    last result. Returns one {way: seconds} per repeat, so ratios can be taken within a repeat (same
    load) before taking their median.
    """
    names = list(ways)
    rounds: list[dict[str, float]] = []
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        seconds: dict[str, float] = {}
        for name in order:
            if only_first and r >= only_first.get(name, repeats):
                continue
            seconds[name], result = timed(ways[name])
            if outputs is not None:
                outputs[name] = result
            log.info("  repeat %d %-24s %.3fs", r + 1, name, seconds[name])
        rounds.append(seconds)
    return rounds


def summarise(rounds: list[dict[str, float]], reference: str) -> dict[str, dict[str, Any]]:
    """Per way: median seconds, the runs, and the median of per-repeat speed ratios against ``reference``."""
    out: dict[str, dict[str, Any]] = {}
    for name in {n for r in rounds for n in r}:
        runs = [r[name] for r in rounds if name in r]
        ratios = [r[reference] / r[name] for r in rounds if name in r and reference in r]
        out[name] = {"seconds": median(runs), "runs": runs, "speed_vs_" + reference: median(ratios)}
    return out


# -- machine -------------------------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """What the figures were measured on: CPU, cores, RAM, load, library versions, threads, GPU."""
    import peft
    import psutil
    import torch
    import transformers

    return {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "ram_bytes": psutil.virtual_memory().total,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def device_info(device: str) -> dict[str, Any]:
    """The device a section ran on, named so that GPU figures say which card and which software."""
    import torch

    info: dict[str, Any] = {
        "device": device,
        "torch": torch.__version__,
        "host_cpu": cpu_model(),
        "python": platform.python_version(),
    }
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(device)
        info.update(
            name=props.name,
            memory_bytes=props.total_memory,
            multiprocessors=props.multi_processor_count,
            cuda=torch.version.cuda,
        )
        import peft
        import transformers

        info.update(transformers=transformers.__version__, peft=peft.__version__)
    return info


def quiet() -> None:
    """Offline, single-process tokenizers, no progress bars or deprecation noise in benchmark output."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


# -- models and adapters -------------------------------------------------------------------------------------
def base_source(model: str, work: Path) -> str:
    """A base model id or path for ``model``: the tiny test Llama (built once in ``work``) or SmolLM2."""
    from mole_core import basemodel

    if model == "smollm2":
        return basemodel.SMOLLM2_ID
    path = work / "tiny-llama"
    if not (path / "config.json").is_file():
        sys.path.insert(0, str(ROOT / "tests"))
        from tiny import build_tiny_llama  # the test suite's builder: one definition of "the tiny model"

        build_tiny_llama(path)
    return str(path)


def load_base(source: str, dtype: str = "float32", device: str = "cpu") -> Any:
    from mole_core import basemodel
    from mole_core.manifest import BaseModelRef

    ref = BaseModelRef(id=source, dtype=dtype)  # type: ignore[arg-type]
    return basemodel.load_model(ref, basemodel.resolve_source(ref), device=device)


def make_adapters(source: str, out: Path, ranks: Sequence[int], seed: int = 0) -> list[Path]:
    """Random-init PEFT LoRA adapters (A and B both random) over all 7 projections, one per rank.

    The base model is loaded once and the LoRA layers injected and removed per adapter: random
    adapters cost the same to run as trained ones, and need no training.
    """
    import torch
    from peft import LoraConfig, get_peft_model

    model = load_base(source)
    paths = []
    for i, rank in enumerate(ranks):
        path = out / f"r{rank}-s{seed + i}"
        if not (path / "adapter_model.safetensors").is_file():
            torch.manual_seed(seed + i)
            config = LoraConfig(
                r=rank,
                lora_alpha=rank,
                target_modules=TARGETS,
                init_lora_weights=False,
                task_type="CAUSAL_LM",
            )
            peft_model = get_peft_model(model, config)
            peft_model.peft_config["default"].base_model_name_or_path = source  # not the cache path loaded
            peft_model.save_pretrained(path)
            model = peft_model.unload()
        paths.append(path)
    return paths


def new_registry(directory: Path, source: str, dtype: str = "float32") -> Any:
    """A fresh registry in the scratch directory (one left by an earlier run with ``--work`` is replaced)."""
    import shutil

    from mole_core import Registry

    shutil.rmtree(directory, ignore_errors=True)
    return Registry.init(directory, base=source, dtype=dtype)


def paper_queries() -> list[tuple[str, str]]:
    """The paper's 16 test queries with their intended experts (4 each): the mixed batch of every run."""
    rows = [
        json.loads(line) for line in (DATA / "paper_test16.jsonl").read_text().splitlines() if line.strip()
    ]
    return [(row["query"], row["expert"]) for row in rows]


def real_questions() -> list[str]:
    rows = (DATA / "real_questions_dev.jsonl").read_text().splitlines()
    return [json.loads(line)["query"] for line in rows if line.strip()]


def assigned_router(assignment: dict[str, str], labels: Sequence[str]) -> Any:
    """A router that sends each known query to a fixed expert: mixed batches with a known composition."""
    from mole_core.routing import Router

    class AssignedRouter(Router):
        kind = "assigned"

        def predict(self, queries: Sequence[str]) -> list[list[float]]:
            return [[1.0 if assignment.get(q) == label else 0.0 for label in self.labels] for q in queries]

        def save(self, directory: Path) -> None:  # pragma: no cover - never saved
            raise NotImplementedError

    return AssignedRouter(list(labels))


# -- section CLI ---------------------------------------------------------------------------------------------
@dataclass
class Context:
    """What a section gets: its scale, a scratch directory, and where it records notes for the doc.

    ``device`` and ``dtype`` are where and in what the measured models run (the generation section
    honours them; a GPU run is recorded beside the CPU figures, never instead of them).
    """

    scale: Scale
    work: Path
    notes: list[str] = field(default_factory=list)
    device: str = "cpu"
    dtype: str = "float32"


def section_main(
    run: Callable[[Context], dict[str, Any]] | dict[str, Callable[[Context], dict[str, Any]]],
    argv: Sequence[str] | None = None,
) -> None:
    """``python -m benchmarks.bench_x [--part P] --scale S --work DIR --json FILE``: one section, as JSON."""
    parts = run if isinstance(run, dict) else {"all": run}
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=sorted(parts), default=next(iter(parts)))
    parser.add_argument("--scale", choices=sorted(SCALES), default="tiny")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps (generation only)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    quiet()
    set_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    from mole_core.devices import resolve_device

    context = Context(
        scale=SCALES[args.scale], work=args.work, device=resolve_device(args.device), dtype=args.dtype
    )
    started = time.perf_counter()
    result = parts[args.part](context)
    result["device"] = device_info(context.device)
    result["dtype"] = context.dtype
    result["scale"] = args.scale
    result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    result["notes"] = result.get("notes", []) + context.notes
    result["section_seconds"] = round(time.perf_counter() - started, 1)
    args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
