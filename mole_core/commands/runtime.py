"""``mole route``, ``mole generate`` and ``mole memory``: the loaded system from the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click

from .. import plugins
from ..cli import cli, device_option, echo_json, json_option, max_loaded_option, registry_option
from ..display import printable
from ..errors import MoleError
from ..queries import chunks, iter_queries, route_stream

CHUNK = 64


def _queries(queries: tuple[str, ...], file: Path | None) -> Iterator[str]:
    if queries and file:
        raise click.UsageError("give queries as arguments or --file, not both")
    if file is not None:
        return iter_queries(file)
    if not queries:
        raise click.UsageError("give at least one QUERY or --file FILE")
    return iter(queries)


def _gb(n: int) -> str:
    return f"{n / 1e9:.3f} GB" if n >= 1e8 else f"{n / 1e6:.2f} MB"


@cli.command()
@click.argument("queries", nargs=-1)
@click.option(
    "--file",
    "file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read queries from FILE: plain lines, or JSONL with a 'query' field; '-' reads standard input.",
)
@json_option
@registry_option
def route(queries: tuple[str, ...], file: Path | None, as_json: bool, registry_dir: Path) -> None:
    """Pick an expert for each QUERY (one JSON object per line with --json).

    Only the router is loaded, not the base model; a --file of any size is streamed in chunks.
    """
    from ..registry import Registry
    from ..routing import load_router

    source = _queries(queries, file)
    registry = Registry(registry_dir)
    manifest = registry.load()
    if not manifest.experts:
        raise MoleError(f"registry {registry_dir} has no experts to route to")
    routed = 0
    for r in route_stream(load_router(registry, manifest), source, CHUNK):
        routed += 1
        if as_json:
            click.echo(json.dumps(r.model_dump(), ensure_ascii=False))
        else:
            best = ", ".join(f"{k} {v:.2f}" for k, v in sorted(r.scores.items(), key=lambda kv: -kv[1])[:3])
            why = f"   ({r.reason})" if r.reason else ""
            click.echo(printable(f"{r.expert:12} {r.query}   [{best}]{why}"))
    if routed == 0:
        raise MoleError(f"{file} has no queries")


@cli.command()
@click.argument("queries", nargs=-1)
@click.option(
    "--file",
    "file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read queries from FILE: plain lines, or JSONL with a 'query' field; '-' reads standard input.",
)
@click.option("--expert", help="Force this expert for every query ('base' = the bare base model).")
@click.option(
    "--top-k",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Blend the K best experts, weighted by the router (experts whose weight rounds to 0 are left out).",
)
@click.option(
    "--max-new-tokens",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Most tokens generated per answer (an answer ends earlier at end-of-sequence).",
)
@click.option(
    "--sample", is_flag=True, help="Sample instead of greedy decoding (then --temperature, --top-p apply)."
)
@click.option(
    "--temperature",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="With --sample: below 1 sharper, above 1 more varied.",
)
@click.option(
    "--top-p",
    type=click.FloatRange(0, 1, min_open=True),
    default=1.0,
    show_default=True,
    help="With --sample: sample only from the smallest token set holding this probability.",
)
@click.option("--seed", type=int, help="Seed for --sample, for repeatable answers.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="Queries per batch (each batch is routed, then generated at once; more uses more memory).",
)
@max_loaded_option
@device_option
@json_option
@registry_option
def generate(
    queries: tuple[str, ...],
    file: Path | None,
    expert: str | None,
    top_k: int,
    max_new_tokens: int,
    sample: bool,
    temperature: float,
    top_p: float,
    seed: int | None,
    batch_size: int,
    max_loaded_experts: str | int | None,
    device: str | None,
    as_json: bool,
    registry_dir: Path,
) -> None:
    """Answer each QUERY with its routed expert (or --expert), one batch at a time.

    MOLE_FAST_LORA=0 runs PEFT's own per-row adapter path instead of MoLE's stacked one (same answers,
    slower); the converted embedded base model is cached in MOLE_CACHE (default ~/.cache/mole).
    """
    from ..runtime import MoLE

    source = _queries(queries, file)
    mole = MoLE.from_registry(
        registry_dir, device=device, load_router=expert is None, max_loaded_experts=max_loaded_experts
    )
    for chunk in chunks(source, batch_size):
        results = mole.generate(
            chunk,
            max_new_tokens=max_new_tokens,
            expert=expert,
            top_k=top_k,
            do_sample=sample,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
        )
        for g in results:
            if as_json:
                click.echo(json.dumps(g.model_dump(), ensure_ascii=False))
            else:
                click.secho(printable(f"[{g.expert}] {g.query}"), bold=True)
                click.echo(f"  {printable(g.text, lines=True)}\n")


@cli.command()
@click.option(
    "--full-models",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="How many merged full models to load and measure (the rest are extrapolated).",
)
@json_option
@registry_option
def memory(full_models: int, as_json: bool, registry_dir: Path) -> None:
    """Measure memory of the loaded system against N separate full models.

    Loads on the CPU whatever GPU the machine has: resident memory is the figure compared.
    """
    from ..memory import measure_registry

    report = measure_registry(registry_dir, full_models=full_models)
    if report.router_note:
        click.echo(f"note: router not counted ({report.router_note})", err=True)
    if as_json:  # the claims plugins cite (e.g. a paper's figure) travel with the measurement
        claims = [claim.model_dump(mode="json") for claim in plugins.catalogue().claims_about("memory")]
        echo_json({**report.model_dump(), "claims": claims})
        return
    click.echo(format_memory(report))


def format_memory(report) -> str:  # noqa: ANN001 - MemoryReport
    lines = [f"Memory, measured on the loaded system ({report.base_id}, {report.dtype})", ""]
    rows = [("base model tensors", report.base_tensor_bytes)]
    rows += [(f"  + expert {e.name} (r={e.rank})", e.tensor_bytes) for e in report.experts]
    rows += [("  + router", report.router_tensor_bytes), ("MoLE total (tensors)", report.mole_tensor_bytes)]
    for label, n in rows:
        lines.append(f"  {label:34} {_gb(n):>12}")
    lines.append(f"  {'process RSS, all weights read':34} {_gb(report.rss_bytes):>12}")
    lines.append("    (a fresh process holding only this system: tensors + Python, torch and libraries)")
    lines.append("")
    for m in report.full_models:
        lines.append(f"  full model {m.name:23} {_gb(m.tensor_bytes):>12}   (RSS +{_gb(m.rss_delta_bytes)})")
    how = (
        f"{report.full_models_measured} measured, the rest extrapolated"
        if report.full_total_extrapolated
        else "all measured"
    )
    lines.append(f"  {f'{report.n_experts} full models ({how})':34} {_gb(report.full_total_bytes):>12}")
    lines.append("")
    lines.append(
        f"  MoLE {_gb(report.mole_tensor_bytes)} vs {_gb(report.full_total_bytes)} for {report.n_experts} full models: "
        f"{report.savings_fraction:.1%} saved"
    )
    if report.added_expert_bytes is not None:
        lines.append(
            f"  one more expert, measured by attaching one: +{_gb(report.added_expert_bytes)} of tensors "
            f"(RSS +{_gb(max(0, report.added_expert_rss_delta_bytes or 0))}), not a full model"
        )
    lines += [f"  ({claim.text})" for claim in plugins.catalogue().claims_about("memory")]
    return "\n".join(lines)
