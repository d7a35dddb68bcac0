"""The one benchmark command: ``python -m benchmarks.run [--scale tiny|full] [--out docs/]``.

Runs every section in a fresh process (memory figures need a clean resident set; timings should
not inherit threads or caches), computes the paper's Llama-3.2-3B table in-process, checks the
targets, and writes ``benchmarks.json`` (raw figures) and ``benchmarks.md`` (tables) into ``--out``.
``--only generation`` re-runs some sections and merges them into an existing ``benchmarks.json``.
``--device cuda --dtype bfloat16 --only generation`` measures on a GPU; its figures are kept under their
own key (``generation@cuda/bfloat16``) beside the CPU ones, and ``--add-section KEY=FILE`` merges a
section measured on another machine (a lent GPU machine that returns one section's JSON).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import ROOT, SCALES, machine, quiet
from .experts_doc import experts_md, experts_targets

log = logging.getLogger("benchmarks.run")

SECTIONS: dict[str, tuple[str, str | None]] = {
    "memory": ("benchmarks.bench_memory", None),
    "routing": ("benchmarks.bench_routing", None),
    "generation": ("benchmarks.bench_adapters", "generation"),
    "adapters": ("benchmarks.bench_adapters", "adapters"),
    "scaling": ("benchmarks.bench_adapters", "scaling"),
    "experts": ("benchmarks.bench_experts", None),
    "vllm": ("benchmarks.bench_vllm", None),
    "serving": ("benchmarks.bench_serving", None),
}
ALL = ["paper", *SECTIONS]


def section_key(name: str, device: str = "cpu", dtype: str = "float32") -> str:
    """Where a section's figures live in ``benchmarks.json``: CPU fp32 under its plain name (the targets
    read those), anything else under ``name@device/dtype`` so it never replaces them."""
    return name if (device, dtype) == ("cpu", "float32") else f"{name}@{device}/{dtype}"


def run_section(
    name: str, scale: str, work: Path, threads: int, device: str = "cpu", dtype: str = "float32"
) -> dict[str, Any]:
    """One section in a subprocess; its JSON, or an ``error`` with the tail of its log."""
    module, part = SECTIONS[name]
    key = section_key(name, device, dtype).replace("@", "-").replace("/", "-")
    out = work / f"{key}.json"
    logfile = work / f"{key}.log"
    cmd = [
        sys.executable,
        "-m",
        module,
        "--scale",
        scale,
        "--work",
        str(work),
        "--json",
        str(out),
        "--threads",
        str(threads),
        "--device",
        device,
        "--dtype",
        dtype,
    ]
    if part:
        cmd += ["--part", part]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    started = time.perf_counter()
    with logfile.open("w") as handle:
        code = subprocess.run(cmd, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - started
    if code != 0 or not out.is_file():
        tail = logfile.read_text(errors="replace").splitlines()[-25:]
        log.error("section %s failed (exit %d):\n%s", name, code, "\n".join(tail))
        return {"error": f"exit {code}", "log_tail": tail, "wall_seconds": seconds}
    result = json.loads(out.read_text())
    result["wall_seconds"] = seconds
    result["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    log.info("section %s done in %.0fs", name, seconds)
    return result


def paper_section() -> dict[str, Any]:
    from . import paper_table

    started = time.perf_counter()
    result = paper_table.table()
    result["wall_seconds"] = time.perf_counter() - started
    return result


def collect(args: argparse.Namespace, work: Path, previous: dict[str, Any]) -> dict[str, Any]:
    """Run the chosen sections; keep the others from ``previous`` (a merge for --only)."""
    sections = dict(previous.get("sections", {}))
    for name in ALL if args.only is None else args.only:
        log.info("section %s (%s scale)...", name, args.scale)
        if name == "paper":
            sections[name] = paper_section()
        else:
            key = section_key(name, args.device, args.dtype)
            sections[key] = run_section(name, args.scale, work, args.threads, args.device, args.dtype)
    for key, path in args.add_section or []:
        added = json.loads(Path(path).read_text())
        if added.get("scale", args.scale) != args.scale:
            raise SystemExit(f"{path} was measured at scale {added['scale']!r}, not {args.scale!r}")
        sections[key] = added
    return sections


def add_section_arg(value: str) -> tuple[str, str]:
    key, sep, path = value.partition("=")
    if not sep or key.split("@")[0] not in SECTIONS or not Path(path).is_file():
        raise argparse.ArgumentTypeError(
            f"expected SECTION[@DEVICE/DTYPE]=FILE with an existing FILE, got {value!r}"
        )
    return key, path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads per section (default 1: see the doc's note on shared CPUs)",
    )
    parser.add_argument(
        "--only", nargs="+", choices=ALL, help="re-run these sections, merging into --out's JSON"
    )
    parser.add_argument("--work", type=Path, help="scratch directory (default: a temporary one, removed)")
    parser.add_argument(
        "--device", default="cpu", help="cpu (default), cuda, cuda:N or mps: where generation runs"
    )
    parser.add_argument(
        "--dtype",
        default="float32",
        choices=["float32", "bfloat16", "float16"],
        help="dtype of the generation section's models (default float32)",
    )
    parser.add_argument(
        "--add-section",
        type=add_section_arg,
        action="append",
        metavar="KEY=FILE",
        help="merge a section's JSON measured elsewhere (e.g. generation@cuda/bfloat16=gen.json)",
    )
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="re-check the targets and re-render benchmarks.md from --out's JSON (nothing is run)",
    )
    return parser


def _write(
    args: argparse.Namespace,
    json_path: Path,
    previous: dict[str, Any],
    sections: dict[str, Any],
    started: float,
    load_before: list[float],
) -> None:
    """Record the run (machine, sections, targets, history) in the JSON and re-render the page."""
    info = machine()
    info["torch_threads"] = args.threads
    info["load_average_before"] = load_before
    ran = ALL if args.only is None else list(args.only)
    ran = [section_key(n, args.device, args.dtype) if n != "paper" else n for n in ran]
    ran += [f"{key} (added from {Path(path).name})" for key, path in args.add_section or []]
    runs = previous.get("runs", []) + [
        {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "sections": ran,
            "wall_seconds": round(time.perf_counter() - started, 1),
            "load_average_before": load_before,
            "load_average_after": info["load_average"],
        }
    ]
    results = {
        "scale": args.scale,
        "date": runs[-1]["date"],
        "machine": info,
        "runs": runs,
        "sections": sections,
    }
    results["targets"] = targets(results)
    results["target_history"] = previous.get("target_history", []) + (
        [{"date": previous["date"], "targets": previous["targets"]}] if previous.get("targets") else []
    )
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    (args.out / "benchmarks.md").write_text(render(results))
    log.info("wrote %s and %s in %.0fs", json_path, args.out / "benchmarks.md", runs[-1]["wall_seconds"])


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    quiet()
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / "benchmarks.json"
    merging = bool(args.only or args.add_section or args.render_only)
    if (args.device, args.dtype) != ("cpu", "float32") and (
        args.only is None or set(args.only) - {"generation"}
    ):
        parser.error("--device and --dtype apply to the generation section only: use --only generation")
    if (args.add_section or args.render_only) and not args.only:
        args.only = []  # merge or re-render without running anything
    if args.render_only:
        if not json_path.is_file():
            parser.error(f"--render-only needs {json_path}")
        results = json.loads(json_path.read_text())
        results["targets"] = targets(results)  # derived from the figures alone: recomputed with the code
        json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
        (args.out / "benchmarks.md").write_text(render(results))
        return 0
    previous = json.loads(json_path.read_text()) if merging and json_path.is_file() else {}
    if previous and previous.get("scale") != args.scale:
        parser.error(f"{json_path} holds a {previous.get('scale')!r} run; --only must use the same --scale")
    work = args.work or Path(tempfile.mkdtemp(prefix="mole-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    try:
        sections = collect(args, work, previous)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    _write(args, json_path, previous, sections, started, load_before)
    return 1 if any("error" in s for s in sections.values()) else 0


# -- targets -------------------------------------------------------------------------------------------------
def target(name: str, goal: str, measured: str, passed: bool | None, note: str = "") -> dict[str, Any]:
    return {"name": name, "target": goal, "measured": measured, "pass": passed, "note": note}


def ok(section: dict[str, Any] | None) -> bool:
    return bool(section) and "error" not in section


def generation_targets(gen: dict[str, Any]) -> list[dict[str, Any]]:
    ways, checks = gen["ways"], gen["checks"]
    out = []
    if "stacked" in ways:
        r = ways["stacked"]["speed_vs_base"]
        out.append(target("mixed batch, 4 experts", ">= 0.80x bare base throughput", f"{r:.2f}x", r >= 0.8))
    else:
        r = ways["peft_rows"]["speed_vs_base"]
        out.append(
            target(
                "mixed batch, 4 experts",
                ">= 0.80x bare base throughput",
                f"{r:.2f}x (PEFT per-row: no fast path)",
                r >= 0.8,
            )
        )
    if "merged" in ways:
        r = ways["merged"]["speed_vs_base"]
        same = checks.get("base_bit_identical_after_merged_batches")
        out.append(
            target(
                "all-one-expert batch",
                ">= 0.95x bare base, base weights bit-identical after",
                f"{r:.2f}x; bit-identical: {same}",
                r >= 0.95 and bool(same),
            )
        )
    if checks.get("fast_path"):
        worst = max(
            max(checks[k]["max_abs_logit_diff"], checks[k]["prefill_max_abs_logit_diff"])
            for k in ("mixed", "one_expert")
        )
        rows = min(checks[k]["rows_identical"] for k in ("mixed", "one_expert"))
        out.append(
            target(
                "outputs equal PEFT's per-row path",
                "fp32 logits within 1e-3, identical greedy tokens",
                f"max |logit diff| {worst:.1e}; rows with identical tokens {rows:.0%}",
                worst <= 1e-3 and rows == 1.0,
            )
        )
    share = gen["routing_share_of_generation"]
    if not share:
        return out
    worst_router = max(share, key=share.get)
    out.append(
        target(
            "routing cost",
            "< 2% of a 32-token generation of the same 16 queries",
            ", ".join(f"{k} {v:.2%}" for k, v in share.items()),
            share[worst_router] < 0.02,
            "routers untrained; batch of 16, one route() call",
        )
    )
    return out


def memory_target(mem: dict[str, Any]) -> dict[str, Any]:
    models = mem["models"]
    name = "smollm2" if "smollm2" in models else next(iter(models))
    per = models[name]["per_expert"]
    ratios = [e["rss_delta_bytes"] / e["tensor_bytes"] for e in per]
    within = sum(0.9 <= r <= 1.1 for r in ratios)
    fit = models[name]["rss_per_tensor_byte"]
    by_rank = ratios_by_rank(per)
    holds = [r for r in sorted(by_rank) if all(0.9 <= x <= 1.1 for x in by_rank[r])]
    note = f"fit: {fit['fit_slope']:.3f} x tensor bytes + {mb(fit['fit_fixed_bytes'])} per adapter"
    if holds and holds[0] != min(by_rank):
        note += (
            f"; every attachment of rank {holds[0]} and up is within 10%: the fixed part (PEFT's module "
            "objects per adapted layer) outweighs 10% of the smaller adapters"
        )
    return target(
        f"memory added per expert ({name})",
        "RSS added on attaching within 10% of the adapter's tensor bytes",
        f"median {fit['median']:.3f}x; {within}/{len(ratios)} attachments within 10%",
        0.9 <= fit["median"] <= 1.1 and within >= 0.9 * len(ratios),
        note,
    )


def ratios_by_rank(per_expert: list[dict[str, Any]]) -> dict[int, list[float]]:
    """RSS added / tensor bytes of each attachment, grouped by the adapter's rank."""
    out: dict[int, list[float]] = {}
    for e in per_expert:
        if e["tensor_bytes"]:
            out.setdefault(e["rank"], []).append(e["rss_delta_bytes"] / e["tensor_bytes"])
    return out


def scaling_target(sc: dict[str, Any], mem: dict[str, Any] | None) -> dict[str, Any]:
    g = sc["growth"]
    ns = [r["n"] for r in sc["rows"]]
    parts = [f"one expert {g['route_plus_one_expert']:.2f}x"]
    worst = g["route_plus_one_expert"]
    if "route_plus_mixed4" in g:
        parts.append(f"4-expert mix {g['route_plus_mixed4']:.2f}x (from N={g['mixed4_from_n']})")
        worst = max(worst, g["route_plus_mixed4"])
    note = f"model: {sc['model'].rsplit('/', 1)[-1]}"
    for name, m in (mem or {}).get("models", {}).items() if ok(mem) else []:
        speeds = [
            (r["n"], r["mixed4_speed_vs_base_rows"]) for r in m["rows"] if "mixed4_speed_vs_base_rows" in r
        ]
        if name != "tiny" and len(speeds) > 1:
            note += (
                f"; on {name} a 4-expert batch ran at "
                + " and ".join(f"{v:.2f}x" for _, v in speeds)
                + " of base rows with "
                + " and ".join(str(n) for n, _ in speeds)
                + " experts attached"
            )
    return target(
        f"route+generate flat, N={min(ns)}..{max(ns)} registered",
        f"N={max(ns)} within 10% of the smallest N",
        "; ".join(parts),
        worst <= 1.10,
        note,
    )


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Pass/fail per target, from the figures alone (the doc shows these; nothing here is asserted)."""
    sections = results["sections"]
    out: list[dict[str, Any]] = []
    if ok(sections.get("generation")):
        out += generation_targets(sections["generation"])
    if ok(sections.get("memory")):
        out.append(memory_target(sections["memory"]))
    if ok(sections.get("scaling")):
        out.append(scaling_target(sections["scaling"], sections.get("memory")))
    if ok(sections.get("serving")):
        from . import bench_serving

        out += bench_serving.targets(sections["serving"])
    if ok(sections.get("experts")):
        out += experts_targets(sections["experts"], None)
    return out


# -- the document --------------------------------------------------------------------------------------------
def mb(n: float | None) -> str:
    """Decimal megabytes (gigabytes from 1 GB up); RSS deltas can be negative (memory handed back)."""
    if n is None:
        return "-"
    return f"{n / 1e9:.2f} GB" if abs(n) >= 1e9 else f"{n / 1e6:.1f} MB"


def table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def failed(name: str, section: dict[str, Any] | None) -> list[str]:
    if section is None:
        return [f"_{name}: not run._", ""]
    return [f"_{name} failed ({section.get('error')}):_", "", "```", *section.get("log_tail", []), "```", ""]


def gpu_sections(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Sections measured on a GPU (run here with --device, or added from a GPU machine)."""
    return {
        k: v
        for k, v in results["sections"].items()
        if "@" in k and isinstance(v, dict) and str(v.get("device", {}).get("device", "")).startswith("cuda")
    }


def header(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    runs = "; ".join(
        f"{r['date']}: {' '.join(r['sections']) or 're-render'} in {r['wall_seconds']:.0f} s, load average "
        f"{r['load_average_before']} before, {r['load_average_after']} after"
        for r in results["runs"]
    )
    gpus = sorted({f"{v['device'].get('name', '?')} ({k})" for k, v in gpu_sections(results).items()})
    gpu = (
        ("; ".join(gpus) + ": see the GPU section below")
        if gpus
        else (m["gpu"] or "none: no GPU figures in this file")
    )
    busiest = max(
        (
            max(r["load_average_before"][0], r["load_average_after"][0])
            for r in results["runs"]
            if r.get("sections")
        ),
        default=0.0,
    )
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python -m benchmarks.run --scale {}` (do not edit by hand; raw figures in "
        "[benchmarks.json](benchmarks.json)). How to run and what each figure means: "
        "[benchmarks/README.md](../benchmarks/README.md).".format(results["scale"]),
        "",
        *table(
            ["", ""],
            [
                ["runs (UTC; load average over 1/5/15 min)", runs],
                ["CPU", f"{m['cpu']}, {m['logical_cores']} logical cores ({m['physical_cores']} physical)"],
                ["RAM", f"{m['ram_bytes'] / 2**30:.1f} GiB"],
                ["GPU", gpu],
                [
                    "software",
                    f"Python {m['python']}, torch {m['torch']}, transformers {m['transformers']}, "
                    f"peft {m['peft']}; {m['os']}",
                ],
                ["torch threads", m["torch_threads"]],
            ],
        ),
    ]
    cores = m.get("logical_cores") or 1
    others = busiest - (m.get("torch_threads") or 1)  # the benchmark's own threads load the machine too
    if others >= 0.5:
        lines.append(
            f"**Shared machine.** Other jobs ran on these {cores} cores during some runs (1-minute load average "
            f"up to {busiest:.1f}, of which about {m.get('torch_threads') or 1} is the benchmark's own). "
        )
    else:
        lines.append(
            f"**Mostly quiet machine.** The 1-minute load average, sampled before and after each run, peaked at "
            f"{busiest:.1f}: about the benchmark's own thread, so the other core was mostly free (short jobs in "
            "between are not excluded). "
        )
    lines[-1] += (
        "Every timing is the median of several runs; every comparison of two ways is a ratio taken within "
        "one repeat (ways alternate, order rotated each repeat), then its median, so load that drifts hits "
        "both sides alike: ratios are the figures to read. One intra-op thread per process: with 2 threads "
        "on a contended CPU OpenMP's barrier waits made SmolLM2 generation 7-14x slower, which would measure "
        "the contention, not MoLE."
    )
    return lines + [""]


def earlier(results: dict[str, Any], name: str, measured: str) -> str:
    """What earlier runs merged into this file measured for the same target (when it differed)."""
    seen = []
    for run in results.get("target_history", []):
        for t in run["targets"]:
            if t["name"] == name and t["measured"] != measured and t["measured"] not in seen:
                seen.append(t["measured"])
    return "; ".join(seen) or "-"


def targets_md(results: dict[str, Any]) -> list[str]:
    rows = [
        [
            t["name"],
            t["target"],
            t["measured"],
            {True: "**pass**", False: "**FAIL**", None: "-"}[t["pass"]],
            earlier(results, t["name"], t["measured"]),
            t["note"],
        ]
        for t in results["targets"]
    ]
    lines = ["## Targets", ""]
    if results["scale"] != "full":
        lines += [
            f"_Scale `{results['scale']}`: tiny models and few repeats; pass/fail here means nothing._",
            "",
        ]
    return lines + table(["target", "goal", "measured", "result", "earlier runs", "note"], rows)


def memory_md(mem: dict[str, Any] | None) -> list[str]:
    lines = ["## Memory: base + N adapters vs N full models", ""]
    if not ok(mem):
        return lines + failed("memory", mem)
    lines += [
        "Adapters: ranks 64/32/16/8 cycling, all 7 projections, random init (PEFT), registered and attached "
        "one by one through `Registry.add_expert` + `MoLE.add_expert`. Tensor bytes are read off the live "
        "tensors; RSS is the process's resident set (after gc + malloc_trim) minus the RSS before the base "
        "model was loaded. A full model is the base with one expert merged in: "
        "N <= 2 really loaded side by side, larger N extrapolated (marked *).",
        "",
    ]
    for name, m in mem["models"].items():
        lines += [
            f"### {name} (`{m['model'].rsplit('/', 1)[-1]}`)",
            "",
            f"Base model: {mb(m['base_tensor_bytes'])} of tensors, {mb(m['base_rss_delta_bytes'])} RSS.",
            "",
        ]
        if m["base_tensor_bytes"] < 1e7:
            lines += [
                "_At this size RSS is mostly allocator granularity and PEFT's per-adapter module objects, "
                "not tensors: read the tensor columns._",
                "",
            ]
        rows = []
        for r in m["rows"]:
            star = "*" if r["full_extrapolated"] else ""
            saved_rss = "-" if r["saved_rss_fraction"] is None else f"{r['saved_rss_fraction']:.1%}"
            rows.append(
                [
                    r["n"],
                    mb(r["mole_tensor_bytes"]),
                    mb(r["mole_rss_delta_bytes"]),
                    mb(r["full_tensor_bytes"]) + star,
                    mb(r["full_rss_bytes"]) + star,
                    f"{r['saved_tensor_fraction']:.1%}",
                    saved_rss,
                ]
            )
        lines += table(
            [
                "N",
                "MoLE tensors",
                "MoLE RSS",
                "N full models, tensors",
                "N full models, RSS",
                "saved (tensors)",
                "saved (RSS)",
            ],
            rows,
        )
        ratio = m["rss_per_tensor_byte"]
        batch = m["after_mixed_batch"]
        per = m["per_expert"]
        lines += [
            f"- RSS added per attached adapter / its tensor bytes: median {ratio['median']:.3f}, "
            f"min {ratio['min']:.3f}, max {ratio['max']:.3f}; {ratio['within_10pct']:.0%} of {len(per)} "
            f"attachments within 10%. Least-squares fit: RSS added = {ratio['fit_slope']:.3f} x tensor bytes "
            f"+ {mb(ratio['fit_fixed_bytes'])} per adapter (the fixed part: PEFT's modules and bookkeeping).",
            "- By rank (attachments within 10%, median ratio): "
            + ", ".join(
                f"r={r} {sum(0.9 <= x <= 1.1 for x in v)}/{len(v)} ({sorted(v)[len(v) // 2]:.3f}x)"
                for r, v in sorted(ratios_by_rank(per).items(), reverse=True)
            )
            + ".",
        ]
        speeds = [
            (r["n"], r["mixed4_speed_vs_base_rows"]) for r in m["rows"] if "mixed4_speed_vs_base_rows" in r
        ]
        if speeds:
            lines.append(
                "- A 4-expert mixed batch (16 tokens) vs all-base rows of the same system, alternated: "
                + ", ".join(f"{v:.2f}x with N={n} attached" for n, v in speeds)
                + " (the fast path stacks only the batch's adapters, so the number attached should "
                "not matter)."
            )
        if "attach_s" in per[0]:
            lines.append(
                f"- `MoLE.add_expert` took {per[1]['attach_s']:.2f} s for expert 2 and "
                f"{per[-1]['attach_s']:.2f} s for expert {len(per)} (ranks {per[1]['rank']} and {per[-1]['rank']})."
            )
        lines += [
            f"- One mixed 16-query batch over 4 of the {m['rows'][-1]['n']} experts afterwards (fast path: "
            f"{batch['fast_path']}) grew RSS by {mb(batch['rss_delta_bytes'])}; all {m['rows'][-1]['n']} adapters "
            f"hold {mb(batch.get('all_adapters_tensor_bytes'))} of tensors, the 4 the batch uses "
            f"{mb(batch.get('batch_adapters_tensor_bytes'))}: the fast path keeps a stacked copy of the batch's "
            "adapters per layer (cached for up to 4 sets of adapters), on top of activations and KV cache.",
            "",
        ]
    return lines


def paper_md(paper: dict[str, Any] | None) -> list[str]:
    lines = ["## The paper's table, recomputed for Llama-3.2-3B", ""]
    if not ok(paper):
        return lines + failed("paper", paper)
    c = paper["config"]
    lines += [
        f"From the config's shapes only (hidden {c['hidden_size']}, intermediate {c['intermediate_size']}, "
        f"{c['num_hidden_layers']} layers, {c['num_attention_heads']} heads, {c['num_key_value_heads']} KV heads, "
        f"head_dim {c['head_dim']}, vocab {c['vocab_size']}, tied embeddings), counted with `torch.device('meta')`: "
        f"{paper['base_params'] / 1e9:.3f} B parameters. LoRA parameters per adapted layer r*(in+out); "
        f"matches PEFT's own count on the meta model: {paper['formula_matches_peft']}.",
        "",
    ]
    rows = []
    for dtype, d in paper["dtypes"].items():
        experts = " + ".join(f"{mb(v)}" for v in d["experts_bytes"].values())
        rows.append(
            [
                dtype,
                mb(d["base_bytes"]),
                experts,
                mb(d["mole_bytes"]),
                mb(d["full_bytes"]),
                f"{d['saved']:.1%}",
            ]
        )
    claim = paper["paper_claim"]
    rows.append(
        [
            "paper (fp32)",
            "-",
            "-",
            f"{claim['mole_gb']:.2f} GB",
            f"{claim['full_gb']:.0f} GB",
            f"{claim['saved']:.1%}",
        ]
    )
    lines += table(
        ["dtype", "base", "experts r=64/32/16/8", "MoLE (base + 4)", "4 full models", "saved"], rows
    )
    fp32 = paper["dtypes"]["float32"]
    lines += [
        f"The paper's fp32 figures are low by about {1 - claim['mole_gb'] * 1e9 / fp32['mole_bytes']:.0%} "
        f"(MoLE) and {1 - claim['full_gb'] * 1e9 / fp32['full_bytes']:.0%} (full): they match 12 GB for the "
        "base (3B x 4 bytes, rounded down) + 0.73 GB of adapters and 4 x 12 GB. The saving itself holds: "
        f"{fp32['saved']:.1%} vs the claimed {claim['saved']:.1%}, the same in bf16 (every byte halves). "
        "Weights only: activations, KV cache and the router come on top.",
        "",
    ]
    return lines


def routing_md(rt: dict[str, Any] | None) -> list[str]:
    lines = ["## Routing speed", ""]
    if not ok(rt):
        return lines + failed("routing", rt)
    rows = []
    for kind, r in rt["routers"].items():
        for b in r["batches"]:
            p99 = f"{b['p99_ms']:.1f}" + (" (max)" if b["p99_is_max"] else "")
            tokens = "-" if b["padded_tokens_per_query"] is None else f"{b['padded_tokens_per_query']:.0f}"
            rows.append([kind, b["batch"], b["calls"], f"{b['qps']:.1f}", f"{b['p50_ms']:.1f}", p99, tokens])
    lines += [
        f"Routers over the 4 paper experts, built untrained (training changes weights, not work per query); the "
        f"95 real questions of `{rt['queries']}`, cycled. Latency is per `route()` call (one batch).",
        "",
        *table(["router", "batch", "calls", "queries/s", "p50 ms", "p99 ms", "tokens/query (padded)"], rows),
        f"A batch is padded to its longest query, cut at the routers' {rt.get('max_length', 64)} tokens; "
        "most of these questions are far shorter, so batch 64 does more work per query than batch 1.",
        "",
    ]
    return lines


WAY_LABELS = {
    "base": "bare base model (the limit)",
    "stacked": "one mixed batch, stacked fast path (MoLE.generate)",
    "peft_rows": "one mixed batch, PEFT per-row `adapter_names`",
    "grouped": "grouped by expert (`set_adapter`, 4 batches)",
    "one_at_a_time": "one query at a time (16 batches)",
    "merged": "all rows one expert (merged for the batch)",
    "base_bf16": "bare base model, bf16",
    "stacked_bf16": "one mixed batch, stacked, bf16",
}


def generation_md(
    gen: dict[str, Any] | None, title: str = "## Generation: 16 queries over 4 experts"
) -> list[str]:
    lines = [title, ""]
    if not ok(gen):
        return lines + failed("generation", gen)
    rows = []
    for way, label in WAY_LABELS.items():
        if way in gen["ways"]:
            w = gen["ways"][way]
            rows.append(
                [
                    label,
                    f"{w['seconds']:.2f}",
                    len(w["runs"]),
                    f"{w['tokens_per_s']:.1f}",
                    f"{w['speed_vs_base']:.2f}x",
                ]
            )
    checks = gen["checks"]
    dtype = gen.get("dtype", "float32")
    dtype_note = "fp32 unless marked" if dtype == "float32" else f"every way in {dtype}"
    lines += [
        f"`{gen['model'].rsplit('/', 1)[-1]}`, {dtype_note}; experts {gen['experts']} (random init); the "
        f"paper's 16 test queries interleaved so neighbouring rows use different experts; exactly "
        f"{gen['new_tokens']} new tokens per row (greedy, min = max), prompts padded to {gen['prompt_tokens']} "
        f"tokens. Ways from `{gen['ways_from']}`. Speed vs base: median of per-repeat ratios.",
        "",
        *table(["way", "median s", "runs", "tokens/s", "speed vs base"], rows),
    ]
    if checks.get("fast_path"):
        for key, label in (("mixed", "mixed rows"), ("one_expert", "all rows one expert")):
            c = checks[key]
            lines.append(
                f"- {label} vs PEFT per-row: greedy tokens identical in {c['rows_identical']:.0%} of rows; "
                f"max |logit diff| {c['max_abs_logit_diff']:.1e} over {c['steps_compared']} decode steps, "
                f"{c['prefill_max_abs_logit_diff']:.1e} over every prompt position."
            )
        lines.append(
            f"- Base weights bit-identical after all merged batches: "
            f"{checks['base_bit_identical_after_merged_batches']}."
        )
    else:
        lines.append("- The stacked fast path was not available: MoLE.generate ran PEFT's per-row path.")
    share = gen["routing_share_of_generation"]
    if share:
        lines += [
            "- Routing the same 16 queries (one call, on the CPU), as a share of the mixed batch's time: "
            + ", ".join(f"{k} {v:.2%}" for k, v in share.items())
            + "."
        ]
    lines.append("")
    bf = gen.get("bf16")
    if not bf:
        return lines
    st, bt = bf["stacked_tokens_vs_fp32"], bf["base_tokens_vs_fp32"]
    lines += [
        '### bf16 next to fp32 (manifest `dtype = "bfloat16"`)',
        "",
        *table(
            [
                "",
                "speed vs fp32",
                "rows with identical greedy tokens",
                "tokens before first divergence",
                "tokens equal",
            ],
            [
                [
                    "mixed batch, stacked",
                    f"{bf['speed_vs_fp32_stacked']:.2f}x",
                    f"{st['rows_identical']:.0%}",
                    f"{st['mean_prefix_agreement']:.0%}",
                    f"{st['tokens_equal']:.0%}",
                ],
                [
                    "bare base",
                    f"{bf['speed_vs_fp32_base']:.2f}x",
                    f"{bt['rows_identical']:.0%}",
                    f"{bt['mean_prefix_agreement']:.0%}",
                    f"{bt['tokens_equal']:.0%}",
                ],
            ],
        ),
        f"In bf16 the mixed batch runs at {bf['stacked_vs_base_bf16']:.2f}x the bf16 bare base. PEFT keeps "
        f"the adapter weights in {bf['adapter_dtype'].removeprefix('torch.')} on a bf16 base.",
        "",
    ]
    return lines


def gpu_md(results: dict[str, Any]) -> list[str]:
    """Generation measured on a GPU, beside (never instead of) the CPU figures above."""
    lines: list[str] = []
    for key, section in sorted(gpu_sections(results).items()):
        d = section["device"]
        title = f"## Generation on a GPU: {d.get('name', '?')}, {section.get('dtype', '?')} (`{key}`)"
        body = generation_md(section, title)
        body.insert(
            2,
            (
                f"Measured {section.get('measured_at', '?')} on {d.get('name')} ({d.get('memory_bytes', 0) / 2**30:.0f} GiB, "
                f"{d.get('multiprocessors', '?')} SMs; host {d.get('host_cpu', '?')}), torch {d.get('torch')}, CUDA "
                f"{d.get('cuda')}, transformers {d.get('transformers')}, peft {d.get('peft')}. Targets are checked on "
                "the CPU figures only; these are for reference."
            ),
        )
        body.insert(3, "")
        body.append(
            "At this size a decode step on the GPU is bound by kernel launches, not arithmetic: each adapted "
            "layer's one base matmul gains three small kernels on the mixed path (A product, row mask, B "
            "product), while a merged one-expert batch adds none."
            + (
                " In bf16 the fast path computes LoRA in bf16 where PEFT upcasts to fp32, and merging rounds "
                "W + BA to bf16, so logits differ from PEFT's by bf16 rounding, not by a different result "
                "(fp32 on the same card: within 1e-3)."
                if section.get("dtype") == "bfloat16"
                else ""
            )
        )
        body.append("")
        lines += body
    return lines


def adapters_md(add: dict[str, Any] | None, sc: dict[str, Any] | None) -> list[str]:
    lines = ["## Adapters: adding expert N+1, and 1 to 100 registered experts", ""]
    if not ok(add):
        lines += failed("adapters", add)
    else:
        med = add["median"]
        t = add["trials"]
        lines += [
            f"A running system (`{add['model'].rsplit('/', 1)[-1]}`, 4 experts, the registry's "
            f"{add['router_kind']} router, one batch already served) gets {len(t)} new r={add['rank']} experts, "
            "one at a time (median seconds):",
            "",
            *table(
                ["step", "median s"],
                [
                    ["`Registry.add_expert` (copy, sha256, manifest)", f"{med['registry_add_s']:.3f}"],
                    ["`MoLE.add_expert` (attach to the loaded model)", f"{med['attach_s']:.3f}"],
                    ["router learns it (`add_examples`)", f"{med['router_add_examples_s']:.3f}"],
                    ["first mixed batch after (2 tokens, stacks rebuilt)", f"{med['first_generate_s']:.3f}"],
                    ["next mixed batch (2 tokens)", f"{med['next_generate_s']:.3f}"],
                ],
            ),
            f"- Routable straight after `MoLE.add_expert`, before the router is told: "
            f"{sum(x['routable_without_router_update'] for x in t)}/{len(t)}; after `add_examples`: "
            f"{sum(x['routes_to_new_expert'] for x in t)}/{len(t)}.",
            "",
        ]
    if not ok(sc):
        return lines + failed("scaling", sc)
    rows = []
    for r in sc["rows"]:
        rows.append(
            [
                r["n"],
                f"{r['load_s']:.1f}",
                f"{r['route_s']:.3f}",
                f"{r['one_expert_s']:.3f}",
                f"{r.get('mixed4_s', float('nan')):.3f}" if "mixed4_s" in r else "-",
                f"{r['route_plus_one_expert_s']:.3f}",
                f"{r['route_plus_mixed4_s']:.3f}" if "route_plus_mixed4_s" in r else "-",
                f"{r['routed_s']:.3f} ({r['routed_distinct_experts']})",
            ]
        )
    g = sc["growth"]
    lines += [
        f"Registered experts N on `{sc['model'].rsplit('/', 1)[-1]}` (r={sc['rank']} each), the embedding router "
        f"over all N; {sc['queries']} queries, {sc['new_tokens']} new tokens; N alternate within each of "
        f"{sc['repeats']} repeats (median seconds). The batch composition is held fixed so only N changes: "
        "every row on expert e000, or the rows split over e000-e003. `routed` lets the router choose "
        "(distinct experts chosen in brackets), so its composition varies with N.",
        "",
        *table(
            ["N", "load s", "route", "one expert", "4-expert mix", "route + one", "route + mix", "routed"],
            rows,
        ),
        f"Largest N over smallest (per-repeat ratio, median): route {g['route']:.2f}x, route + one expert "
        f"{g['route_plus_one_expert']:.2f}x"
        + (
            f", route + 4-expert mix {g['route_plus_mixed4']:.2f}x (from N={g['mixed4_from_n']})."
            if "route_plus_mixed4" in g
            else "."
        ),
        "",
    ]
    a = sc.get("decode_arithmetic")
    if a:
        lines += [
            f"By arithmetic on `{a['model'].rsplit('/', 1)[-1]}`'s shapes: a decode step of the fast path multiplies "
            f"each row by the stacked A and B of the adapters its batch uses, whatever N is: for 4 r={a['rank']} "
            f"adapters +{a['mixed4_share_of_base']:.1%} of the base model's multiply-adds (each row's own adapter "
            f"alone would be +{a['own_rank_share_of_base']:.1%}); a batch on one expert runs merged (+0%).",
            "",
        ]
    return lines


def notes_md(results: dict[str, Any]) -> list[str]:
    lines = ["## Notes", ""]
    for name, section in results["sections"].items():
        for note in section.get("notes", []) if isinstance(section, dict) else []:
            lines.append(f"- {name}: {note}")
    return lines + [""]


VLLM_ROWS = (
    ("vllm_mixed", "vLLM, 16 concurrent clients, each naming its expert"),
    ("front_mixed", "the same through `mole serve --engine-url`"),
    ("vllm_base", "vLLM, 16 concurrent clients, bare base"),
    ("vllm_sequential", "vLLM, one request at a time (one per expert)"),
)


def vllm_md(section: dict[str, Any] | None, serving: dict[str, Any] | None) -> list[str]:
    """vLLM-CPU serving the same four experts, next to MoLE's server (the serving section)."""
    if not section:
        return []
    lines = ["## vLLM-CPU serving the same four experts", ""]
    if "skipped" in section or "error" in section:
        return lines + [f"Not measured: {section.get('skipped') or section.get('error')}.", ""]
    lines += [
        f"{section.get('model', '?')}, exactly {section.get('max_new_tokens', '?')} new tokens per request "
        "(`min_tokens`), streaming greedy chat requests from the serving section's client on the same "
        f"machine; one measurement each, after a warm-up. Load average before {section['load_average_before']}, "
        f"after {section['load_average_after']}; vLLM's CPU threads: {section.get('vllm_threads', '?')}; "
        "MoLE's server runs one torch thread.",
        "",
        "| way | requests | seconds | tokens/s | latency p50 / p99 (s) | first token p50 / p99 (s) |",
        "|---|---|---|---|---|---|",
    ]
    rows = [(section.get(key), label) for key, label in VLLM_ROWS]
    ways = (serving or {}).get("ways") or {}
    for key, label in (
        ("clients_16", "`mole serve` (embedded), 16 clients"),
        ("in_process_batch", "MoLE in-process batch"),
    ):
        if key in ways:
            rows.append((ways[key], f"{label} (serving section, {serving.get('measured_at', '?')[:16]})"))
    for r, label in rows:
        if r and r.get("error"):
            lines.append(f"| {label} | failed: {r['error']} | | | | |")
        elif r:
            ttft = f"{r['ttft_p50']:.2f} / {r['ttft_p99']:.2f}" if r.get("ttft_p50") is not None else "-"
            lines.append(
                f"| {label} | {r['requests']} | {r['seconds']:.1f} | {r['tokens_per_s']:.1f} | "
                f"{r['latency_p50']:.2f} / {r['latency_p99']:.2f} | {ttft} |"
            )
    if "clients_16" in ways and section.get("vllm_mixed"):
        ratio = section["vllm_mixed"]["tokens_per_s"] / ways["clients_16"]["tokens_per_s"]
        lines += ["", f"vLLM-CPU's mixed-adapter throughput at 16 clients: {ratio:.2f}x `mole serve`'s here."]
    return lines + [""]


def render(results: dict[str, Any]) -> str:
    s = results["sections"]
    lines = header(results) + targets_md(results) + memory_md(s.get("memory")) + paper_md(s.get("paper"))
    lines += routing_md(s.get("routing")) + generation_md(s.get("generation")) + gpu_md(results)
    lines += adapters_md(s.get("adapters"), s.get("scaling")) + serving_md(s.get("serving"))
    lines += vllm_md(s.get("vllm"), s.get("serving")) + experts_md(s.get("experts")) + notes_md(results)
    return "\n".join(lines).rstrip() + "\n"


def serving_md(section: dict[str, Any] | None) -> list[str]:
    from . import bench_serving

    lines = ["## Serving: `mole serve` under concurrent clients", ""]
    return lines + (bench_serving.markdown(section) if ok(section) else failed("serving", section))


if __name__ == "__main__":
    sys.exit(main())
