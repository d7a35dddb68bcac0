"""Many experts: registries of 4, 100 and 1,000 experts served with a small adapter cache.

Adapters are synthetic: random tensors of the right shapes for every targeted projection, saved as
``adapter_model.safetensors`` + ``adapter_config.json`` (they cost what trained ones cost to store, load
and run). The tiny test Llama carries the 4/100/1,000-expert registries (1,000 SmolLM2-sized adapters
would be 10 GB of disk); SmolLM2-135M carries 16 experts, enough for a mixed batch over 16 experts with
a cache of 8 and the generation that routing is compared against.

Measured: registering (``Registry.add_experts``, one manifest write) and single adds/removes at scale;
list/show/validate/route (library and CLI); router building/training and routing time at 100 and
1,000 experts; and, each in a fresh process (``probe``), start-up time and resident memory with a cache
of 8, the first answer of a cold expert (and the bytes read for it), and a mixed batch over 16 experts
with a cache of 8 next to the same batch with every adapter attached.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import ROOT, Context, base_source, median, new_registry, section_main

log = logging.getLogger("benchmarks.experts")

TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
TINY_RANKS = (16, 8, 4, 2)
SMOL_RANKS = (8, 16)
PLAN = {  # registry sizes (tiny base), cache, distinct experts in the mixed batch, SmolLM2 experts
    "tiny": {
        "sizes": (4, 12),
        "cache": 2,
        "mixed": 4,
        "smollm2": 0,
        "tokens": 4,
        "routers": (12,),
        "cli": False,
    },
    "full": {
        "sizes": (4, 100, 1000),
        "cache": 8,
        "mixed": 16,
        "smollm2": 16,
        "tokens": 32,
        "routers": (100, 1000),
        "cli": True,
    },
}


# -- synthetic adapters ---------------------------------------------------------------------------------------
def linear_shapes(source: str) -> dict[str, tuple[int, int]]:
    """(in, out) of every targeted projection of the base model, read on the meta device (no weights)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from mole_core import basemodel
    from mole_core.manifest import BaseModelRef

    config = AutoConfig.from_pretrained(basemodel.resolve_source(BaseModelRef(id=source)))
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return {
        name: (module.in_features, module.out_features)
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and name.rsplit(".", 1)[-1] in TARGETS
    }


def write_adapter(out: Path, shapes: dict[str, tuple[int, int]], rank: int, base_id: str, seed: int) -> Path:
    """One PEFT LoRA adapter directory with random A and B (PEFT's key names and config)."""
    import torch
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for name, (d_in, d_out) in shapes.items():
        tensors[f"base_model.model.{name}.lora_A.weight"] = (
            torch.randn(rank, d_in, generator=generator) * 0.02
        )
        tensors[f"base_model.model.{name}.lora_B.weight"] = (
            torch.randn(d_out, rank, generator=generator) * 0.02
        )
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / "adapter_model.safetensors"), metadata={"format": "pt"})
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": rank,
        "lora_alpha": 2 * rank,
        "target_modules": list(TARGETS),
        "lora_dropout": 0.0,
        "bias": "none",
        "base_model_name_or_path": base_id,
    }
    (out / "adapter_config.json").write_text(json.dumps(config))
    (out / "examples.txt").write_text("\n".join(examples_for(seed)) + "\n")
    return out


def examples_for(i: int) -> list[str]:
    """Three distinct example queries per expert, so an embedding router can tell them apart."""
    topics = ("tax law", "baking", "orbital mechanics", "chess openings", "gardening", "jazz", "databases")
    topic = f"{topics[i % len(topics)]} case {i}"
    return [f"question about {topic}", f"how does {topic} work", f"explain {topic} step by step"]


def synth_adapters(source: str, out: Path, n: int, ranks: tuple[int, ...]) -> tuple[list[Path], float]:
    """``n`` adapters (ranks cycling) under ``out``, reused when an earlier run left them; seconds spent."""
    started = time.perf_counter()
    shapes = None
    paths = []
    for i in range(n):
        path = out / f"e{i:04d}"
        if not (path / "examples.txt").is_file():
            shapes = shapes or linear_shapes(source)
            write_adapter(path, shapes, ranks[i % len(ranks)], source, i)
        paths.append(path)
    return paths, time.perf_counter() - started


# -- registries and routers ---------------------------------------------------------------------------------
def build_registry(work: Path, name: str, source: str, adapters: list[Path]) -> tuple[Any, float]:
    """A fresh registry holding ``adapters`` (one ``import`` = one manifest write) and the seconds it took."""
    from mole_core.experts import import_experts

    registry = new_registry(work / name, source)
    started = time.perf_counter()
    import_experts(registry, adapters)
    return registry, time.perf_counter() - started


def router_costs(registry: Any, queries: list[str]) -> dict[str, Any]:
    """Build/train the embedding and minilm routers over every expert (from the examples); route time."""
    from mole_core import plugins
    from mole_core.routing import build_embedding_router, save_router

    manifest = registry.load()
    out: dict[str, Any] = {"experts": len(manifest.experts)}
    started = time.perf_counter()
    embedding = build_embedding_router(manifest)
    out["embedding_build_s"] = time.perf_counter() - started
    save_router(registry, embedding)  # what start-up loads, as after `mole train-router --router embedding`
    pairs = [(q, e.name) for e in manifest.experts for q in e.examples]
    minilm = plugins.get_router_spec("minilm").build(manifest.names())
    started = time.perf_counter()
    minilm.fit([q for q, _ in pairs], [n for _, n in pairs], epochs=5)
    out["minilm_train_s"] = time.perf_counter() - started
    out["minilm_train_examples"] = len(pairs)
    for kind, router in (("embedding", embedding), ("minilm", minilm)):
        router.route(queries)  # warm
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            router.route(queries)
            runs.append(time.perf_counter() - started)
        out[f"{kind}_route_s"] = median(runs)
    return out


def registry_ops(registry: Any, spare: Path, cli: bool) -> dict[str, Any]:
    """Library and CLI timings of the everyday commands on this registry."""
    from mole_core import Registry

    out: dict[str, Any] = {}
    root = registry.root
    reg = Registry(root)
    out["load_s"] = median([_seconds(reg.load) for _ in range(5)])
    out["validate_s"], problems = _timed(reg.validate)
    out["validate_problems"] = len(problems)
    out["add_one_s"], _ = _timed(lambda: reg.add_expert("extra", spare))
    out["remove_one_s"], _ = _timed(lambda: reg.remove_expert("extra"))
    middle = reg.load().names()[len(reg.load().names()) // 2]
    if not cli:
        return out
    commands = {
        "--version": ["--version"],
        "list": ["list", "--json", "--registry", str(root)],
        "show": ["show", middle, "--json", "--registry", str(root)],
        "validate": ["validate", "--json", "--registry", str(root)],
        "route": ["route", "how does tax law case 7 work", "--json", "--registry", str(root)],
    }
    out["cli_s"] = {name: _cli_seconds(args) for name, args in commands.items()}
    return out


def _timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def _seconds(fn: Any) -> float:
    return _timed(fn)[0]


def _cli_seconds(args: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mole_core", *args], capture_output=True, text=True, env=_env()
    )
    if done.returncode not in (0, 1):
        raise RuntimeError(f"mole {' '.join(args)} failed: {done.stderr[-400:]}")
    return time.perf_counter() - started


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }


# -- probes: one fresh process per registry ---------------------------------------------------------------------
def run_probe(registry: Any, cache: int, mixed: int, tokens: int, work: Path) -> dict[str, Any]:
    out = work / f"probe-{registry.root.name}.json"
    cmd = [sys.executable, "-m", "benchmarks.bench_experts", "probe", str(registry.root), str(cache)]
    cmd += [str(mixed), str(tokens), str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"probe of {registry.root} failed: {done.stderr[-2000:]}")
    return json.loads(out.read_text())


def experts_section(context: Context) -> dict[str, Any]:
    """The whole section: see the module docstring."""
    from mole_core.routing import build_embedding_router, save_router

    plan = PLAN[context.scale.name]
    tiny = base_source("tiny", context.work)
    largest = max(plan["sizes"])
    adapters, synth_s = synth_adapters(tiny, context.work / "synthetic-tiny", largest + 1, TINY_RANKS)
    result: dict[str, Any] = {
        "model": tiny,
        "cache": plan["cache"],
        "mixed": plan["mixed"],
        "tokens": plan["tokens"],
    }
    result["synthesis"] = {"tiny_adapters": largest + 1, "tiny_seconds": synth_s}
    queries = [q for i in range(16) for q in examples_for(i * 37)[1:2]]
    rows = []
    for n in plan["sizes"]:
        log.info("tiny registry of %d experts", n)
        registry, register_s = build_registry(context.work, f"experts-{n}", tiny, adapters[:n])
        row: dict[str, Any] = {"n": n, "register_s": register_s}
        if n in plan["routers"]:
            row["routers"] = router_costs(registry, queries)  # also saves the embedding router
        elif plan["routers"]:
            save_router(registry, build_embedding_router(registry.load()))
        if n == largest:
            row["ops"] = registry_ops(registry, adapters[largest], plan["cli"])
        row["probe"] = run_probe(registry, plan["cache"], min(plan["mixed"], n), plan["tokens"], context.work)
        rows.append(row)
    result["tiny"] = rows
    if plan["smollm2"]:
        result["smollm2"] = smollm2_part(context, plan)
    return result


def smollm2_part(context: Context, plan: dict[str, Any]) -> dict[str, Any]:
    """16 SmolLM2-sized experts (r 8/16), cache of 8: start-up, a cold expert, the mixed batch."""
    from mole_core.routing import build_embedding_router, save_router

    source = base_source("smollm2", context.work)
    adapters, synth_s = synth_adapters(
        source, context.work / "synthetic-smollm2", plan["smollm2"], SMOL_RANKS
    )
    registry, register_s = build_registry(context.work, "experts-smollm2", source, adapters)
    save_router(registry, build_embedding_router(registry.load()))
    probe = run_probe(registry, plan["cache"], plan["mixed"], plan["tokens"], context.work)
    size = sum((p / "adapter_model.safetensors").stat().st_size for p in adapters)
    return {
        "n": len(adapters),
        "synth_s": synth_s,
        "register_s": register_s,
        "adapter_bytes": size,
        "probe": probe,
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "probe":
        from .experts_probe import main as probe_main

        probe_main(sys.argv[2:])
    else:
        section_main(experts_section)
