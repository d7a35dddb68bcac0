"""Throughput of mixed-adapter batches: PEFT per-row vs MixedLoRA (stacked / merged) vs bare base.

Why: routing sends a batch's queries to different experts; the batch must run as one batch, and we
want to know what that costs relative to the bare base model in the same run (on a shared CPU only
ratios measured side by side mean anything). Modes run alternately (order rotated every repetition),
each timing one ``generate`` of the whole workload; we report medians and ratios to ``base``.

    python benchmarks/bench_mixed.py                       # tiny random Llama, seconds
    python benchmarks/bench_mixed.py --model /tmp/smollm2  # a local HF model dir (or a .gguf file)

Modes: ``base`` (a separate bare copy of the base model, no LoRA wrappers), ``peft_rows`` (PEFT
``adapter_names=[...]``), ``grouped`` (``set_adapter`` per expert, one generate per group),
``one_at_a_time`` (one generate per query), ``stacked`` (``MixedLoRA.rows``), ``merged`` (every row on
the largest adapter via ``MixedLoRA.rows``, which merges; merge time included), ``merged_cached``
(the same with ``cache_merged=True``: consecutive batches for one expert skip the merge).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mole_core.fastlora import MixedLoRA  # noqa: E402
from mole_core.specs import LLAMA_TARGETS as TARGETS  # noqa: E402

MODES = ["base", "peft_rows", "grouped", "one_at_a_time", "stacked", "merged", "merged_cached"]
TOPICS = ["algebra", "the French revolution", "photosynthesis", "sorting algorithms", "Kant", "tides"]


def load_model(path: str | None) -> tuple[torch.nn.Module, object | None]:
    """A local model dir, a .gguf file (dequantized to fp32), or a tiny random Llama (None)."""
    if path is None:
        torch.manual_seed(0)
        config = LlamaConfig(
            vocab_size=256,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            pad_token_id=0,
            eos_token_id=None,
            bos_token_id=None,
        )
        return LlamaForCausalLM(config).eval(), None
    p = Path(path)
    kw: dict = {"gguf_file": p.name} if p.suffix == ".gguf" else {}
    src = p.parent if p.suffix == ".gguf" else p
    model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32, **kw).eval()
    tokenizer = AutoTokenizer.from_pretrained(src, **kw)
    return model, tokenizer


def make_batch(tokenizer: object | None, n: int) -> dict[str, torch.Tensor]:
    """``n`` left-padded prompts of varied length."""
    if tokenizer is None:
        gen = torch.Generator().manual_seed(0)
        length = 24
        ids = torch.randint(1, 256, (n, length), generator=gen)
        mask = torch.ones(n, length, dtype=torch.long)
        for i in range(n):
            ids[i, : i % 8] = 0
            mask[i, : i % 8] = 0
        return {"input_ids": ids, "attention_mask": mask}
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    prompts = [f"Question {i}: explain {TOPICS[i % len(TOPICS)]} in {2 + i % 5} sentences." for i in range(n)]
    return dict(tokenizer(prompts, return_tensors="pt", padding=True))


def add_adapters(model: torch.nn.Module, ranks: list[int], seed: int) -> tuple[PeftModel, list[str]]:
    """Random (non-zero) LoRA adapters of the given ranks on all seven projections."""
    torch.manual_seed(seed)
    names = [f"expert_r{r}" for r in ranks]
    peft_model: PeftModel | None = None
    for name, r in zip(names, ranks, strict=True):
        cfg = LoraConfig(r=r, lora_alpha=2 * r, target_modules=TARGETS, init_lora_weights="gaussian")
        if peft_model is None:
            peft_model = get_peft_model(model, cfg, adapter_name=name)
        else:
            peft_model.add_adapter(name, cfg)
    assert peft_model is not None
    with torch.no_grad():  # gaussian init leaves B at zero: make every adapter matter
        for module_name, param in peft_model.named_parameters():
            if "lora_B" in module_name:
                param.normal_(0.0, 0.02)
    return peft_model.eval(), names


def select_rows(batch: dict[str, torch.Tensor], idx: list[int]) -> dict[str, torch.Tensor]:
    return {k: v[idx] for k, v in batch.items()}


def build_modes(
    base: torch.nn.Module,
    peft_model: PeftModel,
    mixed: MixedLoRA,
    mixed_cached: MixedLoRA,
    batch: dict[str, torch.Tensor],
    rows: list[str],
    gen_kw: dict,
) -> dict[str, Callable[[], object]]:
    names = list(dict.fromkeys(rows))

    def run_base() -> object:
        return base.generate(**batch, **gen_kw)

    def run_peft_rows() -> object:
        return peft_model.generate(**batch, adapter_names=rows, **gen_kw)

    def run_grouped() -> object:
        for name in names:
            peft_model.set_adapter(name)
            peft_model.generate(**select_rows(batch, [i for i, r in enumerate(rows) if r == name]), **gen_kw)
        peft_model.set_adapter(names[0])

    def run_one_at_a_time() -> object:
        for i, name in enumerate(rows):
            peft_model.set_adapter(name)
            peft_model.generate(**select_rows(batch, [i]), **gen_kw)
        peft_model.set_adapter(names[0])

    def run_stacked() -> object:
        with mixed.rows(rows):
            return peft_model.generate(**batch, **gen_kw)

    def run_merged() -> object:
        with mixed.rows([names[0]] * len(rows)):
            return peft_model.generate(**batch, **gen_kw)

    def run_merged_cached() -> object:
        with mixed_cached.rows([names[0]] * len(rows)):
            return peft_model.generate(**batch, **gen_kw)

    return {
        "merged_cached": run_merged_cached,
        "base": run_base,
        "peft_rows": run_peft_rows,
        "grouped": run_grouped,
        "one_at_a_time": run_one_at_a_time,
        "stacked": run_stacked,
        "merged": run_merged,
    }


def timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    """Wall and process-CPU seconds. On a shared CPU with one thread, CPU time is the steadier
    measure (waiting for the core is not counted); with more threads spin-waits inflate it."""
    start, cpu = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        out = fn()
    return time.perf_counter() - start, time.process_time() - cpu, out


def load_average() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return float("nan")


def others_busy(seconds: float = 1.0) -> float:
    """Fraction of all CPUs busy while this process sleeps, i.e. other people's load (Linux only)."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields[:8]) - idle, sum(fields[:8])

    try:
        busy0, total0 = sample()
        time.sleep(seconds)
        busy1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return float("nan")
    return (busy1 - busy0) / max(total1 - total0, 1)


def wait_for_idle(max_wait_s: float, threshold: float = 0.25) -> float:
    """Wait (up to ``max_wait_s``) until others use less than ``threshold`` of the CPUs, so that a
    repetition is less likely to be measured while someone else's job is running."""
    deadline = time.monotonic() + max_wait_s
    busy = others_busy()
    while busy >= threshold and time.monotonic() < deadline:
        busy = others_busy(2.0)
    return busy


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="local HF model dir or .gguf file (default: tiny random Llama)")
    ap.add_argument("--ranks", default="64,32,16,8")
    ap.add_argument("--queries", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--exact-rank-min-tokens", type=int, default=64)
    ap.add_argument("--wait-idle", type=float, default=0.0, help="seconds to wait per rep for a quiet CPU")
    ap.add_argument("--json", dest="json_out", help="write the results here")
    return ap


def _time_modes(
    runners: dict, modes: list[str], reps: int, wait_idle: float
) -> tuple[dict[str, list[float]], dict[str, list[float]], list[float], list[float]]:
    """Wall and CPU seconds per mode and rep, rotating the order each rep; load samples and CPU business."""
    times: dict[str, list[float]] = {m: [] for m in modes}
    cpu_times: dict[str, list[float]] = {m: [] for m in modes}
    loads = [load_average()]
    busy: list[float] = []
    for rep in range(reps):
        busy.append(wait_for_idle(wait_idle))
        order = modes[rep % len(modes) :] + modes[: rep % len(modes)]
        for mode in order:
            wall, cpu, _ = timed(runners[mode])
            times[mode].append(wall)
            cpu_times[mode].append(cpu)
        loads.append(load_average())
        line = " ".join(f"{m}={times[m][-1]:.2f}s" for m in modes)
        print(f"rep {rep + 1}/{reps} (others busy {busy[-1]:.0%}): {line}", flush=True)

    return times, cpu_times, loads, busy


def _print_result(
    result: dict, args: argparse.Namespace, loads: list[float], busy: list[float], merge_s: float
) -> None:
    head = f"{result['model']}: {args.queries} queries, {args.new_tokens} new tokens, threads={args.threads}"
    print(f"\n{head}, load average {min(loads):.1f}-{max(loads):.1f}, others busy before reps: ", end="")
    print(" ".join(f"{b:.0%}" for b in busy))
    print(
        f"merge {merge_s:.3f}s; stacked rows identical to PEFT: {result.get('stacked_rows_identical_to_peft')}"
    )
    print(f"{'mode':<14}{'median s':>10}{'tok/s':>9}{'ratio':>8}{'paired':>8}{'cpu':>8}")
    for mode, r in result["modes"].items():
        print(
            f"{mode:<14}{r['median_s']:>10.3f}{r['tokens_per_s']:>9.1f}{r['ratio_vs_base']:>8.3f}"
            f"{r['paired_ratio_median']:>8.3f}{r['cpu_ratio_vs_base']:>8.3f}"
        )


def main(argv: list[str] | None = None) -> dict:
    args = _parser().parse_args(argv)

    torch.set_num_threads(args.threads)
    modes = args.modes.split(",")
    if "base" not in modes:
        modes.insert(0, "base")
    model, tokenizer = load_model(args.model)
    base = copy.deepcopy(model)  # the bare model: no LoRA wrappers at all
    peft_model, names = add_adapters(model, [int(r) for r in args.ranks.split(",")], seed=0)
    mixed = MixedLoRA(peft_model, exact_rank_min_tokens=args.exact_rank_min_tokens)
    batch = make_batch(tokenizer, args.queries)
    rows = [names[i % len(names)] for i in range(args.queries)]
    pad = getattr(tokenizer, "pad_token_id", None) or 0
    gen_kw = {
        "max_new_tokens": args.new_tokens,
        "min_new_tokens": args.new_tokens,
        "do_sample": False,
        "pad_token_id": pad,
    }
    mixed_cached = MixedLoRA(peft_model, cache_merged=True)
    runners = build_modes(base, peft_model, mixed, mixed_cached, batch, rows, gen_kw)

    with torch.inference_mode():  # merge cost alone, for the record
        start = time.perf_counter()
        with mixed.merged(names[0]):
            merge_s = time.perf_counter() - start
    outputs = {}
    for mode in modes:  # warm-up (and outputs for the agreement check)
        outputs[mode] = timed(runners[mode])[2]
    times, cpu_times, loads, busy = _time_modes(runners, modes, args.reps, args.wait_idle)
    tokens = args.queries * args.new_tokens
    base_med = statistics.median(times["base"])
    base_cpu = statistics.median(cpu_times["base"])
    result: dict = {
        "model": args.model or "tiny-random-llama",
        "ranks": args.ranks,
        "queries": args.queries,
        "new_tokens": args.new_tokens,
        "threads": args.threads,
        "reps": args.reps,
        "prompt_tokens": int(batch["input_ids"].shape[1]),
        "merge_seconds": merge_s,
        "load_average_samples": loads,
        "others_busy_before_rep": busy,
        "modes": {},
    }
    for mode in modes:
        med = statistics.median(times[mode])
        paired = [b / t for b, t in zip(times["base"], times[mode], strict=True)]
        result["modes"][mode] = {
            "median_s": med,
            "tokens_per_s": tokens / med,
            "ratio_vs_base": base_med / med,
            "paired_ratio_median": statistics.median(paired),
            "cpu_ratio_vs_base": base_cpu / statistics.median(cpu_times[mode]),
            "times_s": times[mode],
            "cpu_times_s": cpu_times[mode],
        }
    if "stacked" in outputs and "peft_rows" in outputs:
        same = (outputs["stacked"] == outputs["peft_rows"]).all(dim=1).float().mean().item()
        result["stacked_rows_identical_to_peft"] = same

    _print_result(result, args, loads, busy, merge_s)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
