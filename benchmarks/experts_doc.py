"""The ``experts`` section in docs/benchmarks.md: its targets and its tables (figures from bench_experts)."""

from __future__ import annotations

from typing import Any


def _target(name: str, goal: str, measured: str, passed: bool | None, note: str = "") -> dict[str, Any]:
    return {"name": name, "target": goal, "measured": measured, "pass": passed, "note": note}


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def experts_targets(sec: dict[str, Any], generation_s: float | None) -> list[dict[str, Any]]:
    """Start-up and memory of the largest registry against the smallest, one read per cold expert,
    routing at the largest size against a 32-token SmolLM2 generation."""
    rows = sec["tiny"]
    small, large = rows[0], rows[-1]
    sp, lp = small["probe"], large["probe"]
    ratio = lp["startup_s"] / sp["startup_s"]
    extra = lp["rss_after_start"] - sp["rss_after_start"]
    out = [
        _target(
            f"{large['n']}-expert registry starts like a {small['n']}-expert one",
            f"<= 2x the start-up time and <= +50 MB RSS (tiny base, cache of {sec['cache']})",
            f"{ratio:.2f}x ({lp['startup_s']:.1f} s vs {sp['startup_s']:.1f} s); RSS {'+' if extra >= 0 else ''}{_mb(extra)}",
            ratio <= 2.0 and extra <= 50e6,
            "start-up = MoLE.from_registry with the saved embedding router, in a fresh process",
        )
    ]
    cold = lp.get("cold")
    if cold:
        out.append(
            _target(
                "a cold expert costs one adapter read",
                "bytes read while attaching it ~ its weight file (<= 1.1x)",
                f"{cold['reads_per_file']:.2f}x ({cold['bytes_read']} of {cold['file_bytes']} bytes)",
                cold["reads_per_file"] <= 1.1,
                "the rest is adapter_config.json",
            )
        )
    smol = sec.get("smollm2")
    gen = (smol or {}).get("probe", {}).get("mixed", {}).get("all_loaded_s") or generation_s
    route = large.get("routers", {}).get("embedding_route_s")
    if gen and route:
        share = route / gen
        out.append(
            _target(
                f"routing at {large['n']} experts",
                f"< 2% of a {sec['tokens']}-token generation of the same 16 queries",
                f"embedding {share:.2%} ({route * 1000:.0f} ms of {gen:.1f} s)",
                share < 0.02,
                "generation: SmolLM2, 16 queries over 16 experts, every adapter attached",
            )
        )
    return out


def experts_md(sec: dict[str, Any] | None) -> list[str]:
    lines = ["## Many experts: adapters paged in on demand", ""]
    if not sec or "error" in sec:
        return lines + [f"_experts: {'not run' if not sec else sec.get('error')}._", ""]
    lines += [
        f"Synthetic adapters (random tensors of the right shapes, ranks mixed) on `{sec['model'].rsplit('/', 1)[-1]}`; "
        f"each registry registered with one `import-experts` and served with `max_loaded_experts={sec['cache']}`; "
        "every probe in a fresh process. See [scaling.md](scaling.md) for how the cache works.",
        "",
        *_table(
            [
                "experts",
                "register s",
                "start-up s",
                "RSS after start",
                "attached at start",
                "route 16 q s",
                "cold expert: attach s",
                "first answer s",
                "warm answer s",
            ],
            [_tiny_row(r) for r in sec["tiny"]],
        ),
    ]
    lines += _mixed_lines(sec) + _routers_lines(sec) + _ops_lines(sec) + _smol_lines(sec)
    return lines


def _tiny_row(r: dict[str, Any]) -> list[Any]:
    p = r["probe"]
    cold = p.get("cold") or {}
    fmt = lambda key: f"{cold[key]:.3f}" if key in cold else "-"  # noqa: E731
    return [r["n"], f"{r['register_s']:.1f}", f"{p['startup_s']:.1f}", _mb(p["rss_after_start"]), p["loaded_at_start"],
            f"{p['route16_s']:.3f}" if "route16_s" in p else "-", fmt("attach_s"), fmt("first_answer_s"), fmt("warm_answer_s")]  # fmt: skip


def _mixed_lines(sec: dict[str, Any]) -> list[str]:
    rows = []
    for label, p in [(f"tiny, {r['n']} registered", r["probe"]) for r in sec["tiny"]] + (
        [("SmolLM2, 16 registered", sec["smollm2"]["probe"])] if sec.get("smollm2") else []
    ):
        m = p["mixed"]
        rows.append([label, m["distinct"], f"{m['capped_s']:.2f}", f"{m['all_loaded_s']:.2f}",
                     f"{m['capped_vs_all']:.2f}x", m["loads_per_capped_batch"], m["answers_equal"]])  # fmt: skip
    return [
        f"### A mixed batch of 16 queries with a cache of {sec['cache']}",
        "",
        *_table(
            [
                "system",
                "distinct experts",
                f"cache {sec['cache']} s",
                "all attached s",
                "ratio",
                "loads per batch",
                "answers equal",
            ],
            rows,
        ),  # fmt: skip
        "With more distinct experts than the cache holds, `generate` runs the batch as sub-batches of at most "
        "that many experts and reloads what the previous batch evicted (each batch here cycles through all of "
        "them: the worst case for an LRU cache).",
        "",
    ]


def _routers_lines(sec: dict[str, Any]) -> list[str]:
    rows = [[r["n"], r["routers"]["minilm_train_examples"], f"{r['routers']['embedding_build_s']:.1f}",
             f"{r['routers']['minilm_train_s']:.1f}", f"{r['routers']['embedding_route_s'] * 1000:.0f}",
             f"{r['routers']['minilm_route_s'] * 1000:.0f}"] for r in sec["tiny"] if "routers" in r]  # fmt: skip
    if not rows:
        return []
    return [
        "### Routers over many experts (3 examples per expert, 16 queries routed in one call)",
        "",
        *_table(
            [
                "experts",
                "examples",
                "embedding build s",
                "minilm train s (5 epochs)",
                "embedding route ms",
                "minilm route ms",
            ],
            rows,
        ),  # fmt: skip
        "The embedding router needs no training: a new expert is routable from its examples at once.",
        "",
    ]


def _ops_lines(sec: dict[str, Any]) -> list[str]:
    r = next((r for r in sec["tiny"] if "ops" in r), None)
    if r is None:
        return []
    o = r["ops"]
    cli = o.get("cli_s", {})
    return [
        f"### Everyday commands on {r['n']} experts",
        "",
        *_table(
            ["operation", "seconds"],
            [
                ["`Registry.load()` (parse + validate mole.toml)", f"{o['load_s']:.3f}"],
                ["`Registry.validate()` (every file and checksum)", f"{o['validate_s']:.2f}"],
                ["`Registry.add_expert` of one more", f"{o['add_one_s']:.2f}"],
                ["`Registry.remove_expert` of it", f"{o['remove_one_s']:.2f}"],
                *[
                    [f"`mole {'--version' if name == 'version' else name}` (whole process)", f"{s:.1f}"]
                    for name, s in cli.items()
                ],
            ],
        ),
        "`mole --version` is the floor of every command: starting Python and importing MoLE's CLI.",
        "",
    ]


def _smol_lines(sec: dict[str, Any]) -> list[str]:
    s = sec.get("smollm2")
    if not s:
        return []
    p = s["probe"]
    cold = p.get("cold") or {}
    return [
        f"### SmolLM2-135M with {s['n']} experts (r=8/16, {_mb(s['adapter_bytes'])} of adapters), cache of {sec['cache']}",
        "",
        f"- Start-up {p['startup_s']:.1f} s, RSS {_mb(p['rss_after_start'])} after start, {_mb(p['rss_end'])} at the end.",
        f"- A cold expert: attached in {cold.get('attach_s', float('nan')):.2f} s reading "
        f"{cold.get('reads_per_file', float('nan')):.2f}x its file; first answer {cold.get('first_answer_s', float('nan')):.2f} s, "
        f"the next {cold.get('warm_answer_s', float('nan')):.2f} s ({sec['tokens']} new tokens).",
        "",
    ]


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows] + [""]
