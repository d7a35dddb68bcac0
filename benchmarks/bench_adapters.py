"""Serving with adapters: mixed-batch generation, adding expert N+1, and 1 to 100 registered experts.

Three parts (``--part``), each run in its own process by ``benchmarks.run``:

- ``generation``: 16 queries over 4 experts (the paper's test queries, interleaved so neighbouring
  rows use different experts), exactly ``max_new_tokens`` each, timed as one mixed batch (the stacked
  fast path MoLE.generate uses), PEFT's per-row path, grouped by expert, one query at a time, the
  bare base model (the limit) and the all-one-expert batch; fp32 and bf16 side by side; the routers'
  cost next to it. The ways are defined once, in ``benchmarks.bench_mixed.build_modes``.
  Outputs are checked against PEFT's per-row path (greedy tokens, logits) and the base weights
  against a copy taken before any merging.
- ``adapters``: the time to register and attach expert N+1 into a running system.
- ``scaling``: route + generate with 1 to 100 registered experts, with a fixed batch composition so
  only the number of registered experts changes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import (
    PAPER_EXPERTS,
    RANK_CYCLE,
    Context,
    alternate,
    assigned_router,
    base_source,
    load_base,
    make_adapters,
    median,
    new_registry,
    paper_queries,
    summarise,
)

log = logging.getLogger("benchmarks.adapters")
Way = Callable[[], Any]


# -- shared set-up ---------------------------------------------------------------------------------------------
def interleaved_queries() -> list[tuple[str, str]]:
    """The paper's 16 queries reordered reasoning, knowledge, qa, factoid, reasoning, ...: no two
    neighbouring rows share an expert (a routed batch is not sorted by expert)."""
    by_expert: dict[str, list[str]] = {}
    for query, expert in paper_queries():
        by_expert.setdefault(expert, []).append(query)
    rounds = max(len(v) for v in by_expert.values())
    return [(by_expert[e][i], e) for i in range(rounds) for e in PAPER_EXPERTS if i < len(by_expert[e])]


def paper_registry(context: Context, name: str, source: str, dtype: str = "float32") -> Any:
    """A registry with the paper's four experts as random adapters of ranks 64/32/16/8."""
    model = "smollm2" if source != base_source("tiny", context.work) else "tiny"
    adapters = make_adapters(source, context.work / f"adapters-{model}", RANK_CYCLE)
    registry = new_registry(context.work / name, source, dtype=dtype)
    for expert, path in zip(PAPER_EXPERTS, adapters, strict=True):
        registry.add_expert(expert, path)
    return registry


def encode_batch(mole: Any, queries: Sequence[str], max_new_tokens: int) -> dict[str, Any]:
    """The padded batch MoLE.generate would build for ``queries`` (chat template, left padding)."""
    tokenizer = mole.tokenizer
    prompts = mole.prompts(list(queries), max_new_tokens)
    has_template = bool(getattr(tokenizer, "chat_template", None))
    return dict(tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=not has_template))


def generate_kwargs(mole: Any, max_new_tokens: int, **extra: Any) -> dict[str, Any]:
    """Greedy, exactly ``max_new_tokens`` per row (min = max), so every way does the same work."""
    return {
        "max_new_tokens": max_new_tokens,
        "min_new_tokens": max_new_tokens,
        "do_sample": False,
        "pad_token_id": mole.tokenizer.pad_token_id,
        "temperature": None,
        "top_p": None,
        "top_k": None,
        **extra,
    }


#: The ways the generation part times, all defined once in ``bench_mixed.build_modes``.
WAYS = ("base", "peft_rows", "grouped", "one_at_a_time", "stacked", "merged")
FAST_WAYS = ("stacked", "merged")  # need MoLE's fast path (absent with MOLE_FAST_LORA=0)


def build_modes(
    base: Any, model: Any, mixed: Any, batch: dict[str, Any], rows: list[str], kw: dict[str, Any]
) -> tuple[dict[str, Way], str]:
    """bench_mixed's ways, run with MoLE's own MixedLoRA (``mixed``), so the fast path is timed exactly
    as MoLE.generate configures it. Without a fast path only PEFT's and the bare base's ways remain."""
    from .bench_mixed import build_modes as shared

    modes = shared(
        base=base, peft_model=model, mixed=mixed, mixed_cached=mixed, batch=batch, rows=rows, gen_kw=kw
    )
    keep = [w for w in WAYS if mixed is not None or w not in FAST_WAYS]
    return {w: modes[w] for w in keep}, "benchmarks.bench_mixed.build_modes"


def inference(fn: Way, device: str = "cpu") -> Way:
    """``fn`` without autograd, returning only once the device has finished (GPU work is queued)."""

    def call() -> Any:
        import torch

        from mole_core.devices import synchronize

        with torch.inference_mode():
            result = fn()
        synchronize(device)
        return result

    return call


# -- generation ------------------------------------------------------------------------------------------------
class GenerationSetup:
    """Everything the generation part times: the system in the context's dtype on its device, the bare
    base model beside it, and (for an fp32 run) a bf16 system and base for the side-by-side figures."""

    def __init__(self, context: Context) -> None:
        from mole_core import MoLE

        scale = context.scale
        self.device = context.device
        self.tokens = scale.max_new_tokens
        source = base_source(scale.gen_model, context.work)
        pairs = interleaved_queries()
        self.queries = [q for q, _ in pairs]
        self.rows = [e for _, e in pairs]
        router = assigned_router(dict(pairs), PAPER_EXPERTS)
        self.mole = MoLE.from_registry(
            paper_registry(context, "gen-main", source, dtype=context.dtype),
            router=router,
            device=self.device,
        )
        self.base = load_base(source, context.dtype, self.device)
        self.with_bf16 = context.dtype == "float32"  # a bf16 run has no second dtype to set beside it
        if self.with_bf16:
            self.mole_bf16 = MoLE.from_registry(
                paper_registry(context, "gen-bf16", source, dtype="bfloat16"),
                router=router,
                device=self.device,
            )
            self.base_bf16 = load_base(source, "bfloat16", self.device)
            self.mixed_bf16 = getattr(self.mole_bf16, "_mixed", None)
        batch = encode_batch(self.mole, self.queries, self.tokens)
        self.batch = {k: v.to(self.device) for k, v in batch.items()}
        self.mixed = getattr(self.mole, "_mixed", None)  # the fast path MoLE.generate uses (None: PEFT's)
        self.model_id = source

    def modes(self, tokens: int) -> tuple[dict[str, Way], str]:
        kw = generate_kwargs(self.mole, tokens)
        modes, origin = build_modes(self.base, self.mole.model, self.mixed, self.batch, self.rows, kw)
        if self.with_bf16:
            model_bf16, mixed_bf16 = self.mole_bf16.model, self.mixed_bf16

            def stacked_bf16() -> Any:
                if mixed_bf16 is None:
                    return model_bf16.generate(**self.batch, adapter_names=self.rows, **kw)
                with mixed_bf16.rows(self.rows):
                    return model_bf16.generate(**self.batch, **kw)

            modes["base_bf16"] = lambda: self.base_bf16.generate(**self.batch, **kw)
            modes["stacked_bf16"] = stacked_bf16
        return {name: inference(fn, self.device) for name, fn in modes.items()}, origin


def router_ways(queries: list[str], notes: list[str]) -> dict[str, Way]:
    """``route:<kind>`` for each router, over the same 16 queries the generation batch answers.

    A router that cannot be built here (its encoder's package missing, e.g. on a GPU machine that
    received only the code) is left out with a note, not allowed to sink the generation figures."""
    from mole_core.errors import MoleError

    from .bench_routing import ROUTERS, build_router

    ways = {}
    for kind in ROUTERS:
        try:
            router = build_router(kind)
        except (MoleError, ImportError, OSError) as exc:
            notes.append(f"router {kind} not timed: {str(exc).splitlines()[0]}")
            continue
        ways[f"route:{kind}"] = lambda router=router: router.route(queries)
    return ways


def snapshot(model: Any) -> dict[str, Any]:
    """Copies of the base model's own weights (LoRA excluded), to prove merging leaves them untouched."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}


def bit_identical(model: Any, copy: dict[str, Any]) -> bool:
    import torch

    current = {n: p for n, p in model.named_parameters() if "lora_" not in n}
    return current.keys() == copy.keys() and all(torch.equal(current[n], copy[n]) for n in copy)


def logits_gap(a: Any, b: Any) -> dict[str, Any]:
    """Greedy tokens and per-step logits of two generate() results (logits compared while tokens agree)."""
    same_rows = (a.sequences == b.sequences).all(dim=1)
    steps = len(a.logits)
    diverged = [
        i for i in range(steps) if not bool((a.sequences[:, -steps + i] == b.sequences[:, -steps + i]).all())
    ]
    upto = diverged[0] + 1 if diverged else steps  # the step that diverged still saw equal inputs
    gap = max(float((a.logits[i] - b.logits[i]).abs().max()) for i in range(upto))
    return {
        "rows_identical": float(same_rows.float().mean()),
        "max_abs_logit_diff": gap,
        "steps_compared": upto,
    }


def prefill_gap(setup: GenerationSetup, rows: list[str]) -> float:
    """Max |logit| difference over every real prompt position, fast path vs PEFT per-row, one forward."""
    import torch

    model, mask = setup.mole.model, setup.batch["attention_mask"].bool()
    with torch.inference_mode():
        with setup.mixed.rows(rows):
            fast = model(**setup.batch).logits
        peft = model(**setup.batch, adapter_names=rows).logits
    return float((fast - peft).abs()[mask].max())


def correctness(setup: GenerationSetup) -> dict[str, Any]:
    """Fast path vs PEFT per-row: mixed rows and all-one-expert rows (fp32)."""
    import torch

    if setup.mixed is None:
        return {"fast_path": False}
    model, batch = setup.mole.model, setup.batch
    kw = generate_kwargs(setup.mole, setup.tokens, output_logits=True, return_dict_in_generate=True)
    out: dict[str, Any] = {"fast_path": True}
    for label, rows in (("mixed", setup.rows), ("one_expert", [setup.rows[0]] * len(setup.rows))):
        with torch.inference_mode():
            with setup.mixed.rows(rows):
                fast = model.generate(**batch, **kw)
            peft = model.generate(**batch, adapter_names=rows, **kw)
        out[label] = {**logits_gap(fast, peft), "prefill_max_abs_logit_diff": prefill_gap(setup, rows)}
        log.info("%s vs PEFT per-row: %s", label, out[label])
        if label == "mixed":
            setup.fp32_mixed_tokens = fast.sequences
    return out


def agreement(a: Any, b: Any, new: int) -> dict[str, float]:
    """bf16 vs fp32 greedy tokens: rows identical, and the mean share of new tokens before they diverge."""
    a, b = a[:, -new:], b[:, -new:]
    same = (a == b).long()
    prefix = same.cumprod(dim=1).sum(dim=1).float() / new
    return {
        "rows_identical": float(same.all(dim=1).float().mean()),
        "mean_prefix_agreement": float(prefix.mean()),
        "tokens_equal": float(same.float().mean()),
    }


def run_generation(context: Context) -> dict[str, Any]:
    scale = context.scale
    setup = GenerationSetup(context)
    before = snapshot(setup.mole.model)
    checks = correctness(setup)
    warm, origin = setup.modes(2)
    # first calls build stacks, caches and kernels: keep that out of the timings (the correctness runs
    # above already warmed the fp32 LoRA paths)
    alternate({k: warm[k] for k in ("base", "base_bf16", "stacked_bf16") if k in warm}, 1)
    ways, _ = setup.modes(setup.tokens)
    ways.update(router_ways(setup.queries, context.notes))
    outputs: dict[str, Any] = {}
    slow = {"one_at_a_time": scale.gen_slow_repeats, "grouped": scale.gen_slow_repeats}
    rounds = alternate(ways, scale.gen_repeats, only_first=slow, outputs=outputs)
    stats = summarise(rounds, "base")
    tokens = len(setup.queries) * setup.tokens
    for name, row in stats.items():
        if not name.startswith("route:"):
            row["tokens_per_s"] = tokens / row["seconds"]
    share = {
        name.removeprefix("route:"): median([r[name] / r[fast] for r in rounds if name in r])
        for name in ways
        if name.startswith("route:")
        for fast in ["stacked" if "stacked" in stats else "peft_rows"]
    }
    bf16 = bf16_figures(setup, rounds, outputs) if setup.with_bf16 else None
    checks["base_bit_identical_after_merged_batches"] = bit_identical(setup.mole.model, before)
    return {
        "model": setup.model_id,
        "queries": len(setup.queries),
        "new_tokens": setup.tokens,
        "prompt_tokens": int(setup.batch["input_ids"].shape[1]),
        "experts": dict(zip(PAPER_EXPERTS, RANK_CYCLE, strict=True)),
        "ways_from": origin,
        "fast_path": setup.mixed is not None,
        "ways": stats,
        "routing_share_of_generation": share,
        "bf16": bf16,
        "checks": checks,
    }


def bf16_figures(
    setup: GenerationSetup, rounds: list[dict[str, float]], outputs: dict[str, Any]
) -> dict[str, Any]:
    """bf16 next to fp32: speeds (per-repeat ratios) and how often the greedy tokens agree."""
    bf16_speed = median([r["base_bf16"] / r["stacked_bf16"] for r in rounds])
    return {
        "speed_vs_fp32_stacked": median([r["stacked"] / r["stacked_bf16"] for r in rounds if "stacked" in r]),
        "speed_vs_fp32_base": median([r["base"] / r["base_bf16"] for r in rounds]),
        "stacked_vs_base_bf16": bf16_speed,
        "stacked_tokens_vs_fp32": agreement(
            outputs["stacked_bf16"], outputs.get("stacked", outputs["peft_rows"]), setup.tokens
        ),
        "base_tokens_vs_fp32": agreement(outputs["base_bf16"], outputs["base"], setup.tokens),
        "adapter_dtype": str(
            next(p for n, p in setup.mole_bf16.model.named_parameters() if "lora_A" in n).dtype
        ),
    }


# -- adding expert N+1 -----------------------------------------------------------------------------------------
def run_add_expert(context: Context) -> dict[str, Any]:
    """Register and attach new experts into a loaded 4-expert system; time each step, check it serves."""
    from mole_core import MoLE
    from mole_core.memory import adapter_tensors, tensor_bytes

    from .bench_memory import rss

    scale = context.scale
    source = base_source(scale.gen_model, context.work)
    registry = paper_registry(context, "add-expert", source)
    mole = MoLE.from_registry(registry)  # the registry's own router: embedding, built from examples
    queries = [q for q, _ in interleaved_queries()]
    mole.generate(queries, max_new_tokens=2)  # a running system: stacks and caches exist
    model = "smollm2" if scale.gen_model == "smollm2" else "tiny"
    new = make_adapters(source, context.work / f"adapters-{model}", [16] * scale.add_expert_trials, seed=100)
    trials = []
    for i, path in enumerate(new):
        name = f"new{i}"
        examples = [f"{name} question {k}: tell me about project {name} part {k}" for k in range(4)]
        t_reg, entry = timed_call(lambda: registry.add_expert(name, path, examples=examples))  # noqa: B023
        before = rss()
        t_attach, _ = timed_call(lambda: mole.add_expert(entry))  # noqa: B023
        added_rss = rss() - before
        routable_at_once = mole.route(examples[:1])[0].expert == name
        add = getattr(mole.router, "add_examples", None)
        t_router = timed_call(lambda: add(name, examples))[0] if callable(add) else None  # noqa: B023
        mixed = [*queries, *examples]  # routed: a mixed batch that includes the new expert
        t_first, _ = timed_call(lambda: mole.generate(mixed, max_new_tokens=2))  # noqa: B023
        t_next, _ = timed_call(lambda: mole.generate(mixed, max_new_tokens=2))  # noqa: B023
        routed = mole.route(examples[:1])[0].expert
        size = tensor_bytes(adapter_tensors(mole.model, name))
        trials.append(
            {
                "n_before": len(mole.experts) - 1,
                "registry_add_s": t_reg,
                "attach_s": t_attach,
                "router_add_examples_s": t_router,
                "first_generate_s": t_first,
                "next_generate_s": t_next,
                "routable_without_router_update": routable_at_once,
                "routes_to_new_expert": routed == name,
                "tensor_bytes": size,
                "rss_delta_bytes": added_rss,
            }
        )
        log.info("expert %s: %s", name, trials[-1])
    return {
        "model": source,
        "rank": 16,
        "trials": trials,
        "median": {
            k: median([t[k] for t in trials if t[k] is not None] or [float("nan")])
            for k in (
                "registry_add_s",
                "attach_s",
                "router_add_examples_s",
                "first_generate_s",
                "next_generate_s",
            )
        },
        "router_kind": mole.router.kind,
    }


def timed_call(fn: Way) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


# -- 1 to 100 registered experts -------------------------------------------------------------------------------
def scaling_registry(context: Context, source: str, n: int, adapters: list[Any]) -> Any:
    """``n`` experts: e000..e003 take the paper experts' routing examples, the rest other topics."""
    from mole_core import plugins

    registry = new_registry(context.work / f"scaling-{n}", source)
    for i in range(n):
        if i < len(PAPER_EXPERTS):
            examples = list(plugins.get_expert_spec(PAPER_EXPERTS[i]).routing.examples)[:8]
        else:
            examples = [
                f"Question {k} about catalogue item {i}: its part number {i * 7 + k}" for k in range(3)
            ]
        registry.add_expert(f"e{i:03d}", adapters[i % len(adapters)], examples=examples)
    return registry


def run_scaling(context: Context) -> dict[str, Any]:
    """Alternating over N: route (embedding router over N experts), one-expert and 4-expert batches."""
    from mole_core import MoLE
    from mole_core.routing import build_embedding_router

    scale = context.scale
    source = base_source(scale.scaling_model, context.work)
    adapters = make_adapters(
        source,
        context.work / f"adapters-{scale.scaling_model}-r{scale.scaling_rank}",
        [scale.scaling_rank] * 4,
        seed=200,
    )
    pairs = interleaved_queries()
    queries = [q for q, _ in pairs]
    ways: dict[str, Way] = {}
    load_s: dict[int, float] = {}
    for n in scale.scaling_n:
        registry = scaling_registry(context, source, n, adapters)
        started = time.perf_counter()
        mole = MoLE.from_registry(registry, router=build_embedding_router(registry.load()))
        load_s[n] = time.perf_counter() - started
        ways[f"route N={n}"] = lambda mole=mole: mole.route(queries)
        ways[f"one_expert N={n}"] = lambda mole=mole: mole.generate(
            queries, expert="e000", max_new_tokens=scale.max_new_tokens
        )
        if n >= len(PAPER_EXPERTS):
            assignment = {q: f"e{PAPER_EXPERTS.index(e):03d}" for q, e in pairs}
            fixed = MoLE(
                mole.registry,
                mole.manifest,
                mole.model,
                mole.tokenizer,
                assigned_router(assignment, mole.experts),
            )
            ways[f"mixed4 N={n}"] = lambda fixed=fixed: fixed.generate(
                queries, max_new_tokens=scale.max_new_tokens
            )
        ways[f"routed N={n}"] = lambda mole=mole: mole.generate(queries, max_new_tokens=scale.max_new_tokens)
    warm: dict[str, Any] = {}
    alternate(ways, 1, outputs=warm)
    rounds = alternate(ways, scale.scaling_repeats)
    rows = []
    for n in scale.scaling_n:
        row: dict[str, Any] = {"n": n, "load_s": load_s[n]}
        for kind in ("route", "one_expert", "mixed4", "routed"):
            key = f"{kind} N={n}"
            if key in ways:
                row[f"{kind}_s"] = median([r[key] for r in rounds])
        row["route_plus_one_expert_s"] = median([r[f"route N={n}"] + r[f"one_expert N={n}"] for r in rounds])
        if f"mixed4 N={n}" in ways:
            row["route_plus_mixed4_s"] = median([r[f"route N={n}"] + r[f"mixed4 N={n}"] for r in rounds])
        row["routed_distinct_experts"] = len({g.expert for g in warm[f"routed N={n}"]})
        rows.append(row)
    return {
        "model": source,
        "rank": scale.scaling_rank,
        "queries": len(queries),
        "new_tokens": scale.max_new_tokens,
        "repeats": scale.scaling_repeats,
        "rows": rows,
        "growth": growth(rounds, scale.scaling_n),
        "decode_arithmetic": decode_cost(base_source(scale.gen_model, context.work), scale.scaling_rank),
    }


def decode_cost(source: str, rank: int) -> dict[str, Any]:
    """Multiply-adds per decoded token of the fast path, as a share of the base model's, by arithmetic.

    A decode step multiplies every row by the A and B stacks of the adapters its batch uses (the row
    mask zeroes the others' columns), so a 4-expert batch does 4*r*(in+out) per adapted layer for each
    row, independent of how many experts are attached. Counted on the model's shapes (meta device).
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from mole_core import basemodel
    from mole_core.manifest import BaseModelRef

    from .paper_table import lora_params

    config = AutoConfig.from_pretrained(basemodel.resolve_source(BaseModelRef(id=source)))
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    base = sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear))
    one = lora_params(model, rank)
    return {
        "model": source,
        "rank": rank,
        "base_macs_per_token": base,
        "one_adapter_macs_per_token": one,
        "mixed4_share_of_base": len(PAPER_EXPERTS) * one / base,
        "own_rank_share_of_base": one / base,
    }


def growth(rounds: list[dict[str, float]], ns: Sequence[int]) -> dict[str, float]:
    """Per-repeat ratios of the largest N to the smallest (same repeat, same load), then the median."""
    lo, hi = min(ns), max(ns)
    lo4 = min((n for n in ns if n >= len(PAPER_EXPERTS)), default=None)
    out = {
        "route_plus_one_expert": median(
            [
                (r[f"route N={hi}"] + r[f"one_expert N={hi}"])
                / (r[f"route N={lo}"] + r[f"one_expert N={lo}"])
                for r in rounds
            ]
        ),
        "route": median([r[f"route N={hi}"] / r[f"route N={lo}"] for r in rounds]),
    }
    if lo4 is not None and lo4 != hi:
        out["route_plus_mixed4"] = median(
            [
                (r[f"route N={hi}"] + r[f"mixed4 N={hi}"]) / (r[f"route N={lo4}"] + r[f"mixed4 N={lo4}"])
                for r in rounds
            ]
        )
        out["mixed4_from_n"] = lo4
    return out


if __name__ == "__main__":
    from . import section_main

    section_main({"generation": run_generation, "adapters": run_add_expert, "scaling": run_scaling})
