"""The registry commands (``init``, ``add-expert``, ``import-experts``, ``remove-expert``, ``list``,
``show``, ``validate``, ``schema``): thin layers over :class:`~mole_core.Registry` and :mod:`mole_core.experts`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from .. import clihelp
from ..cli import cli, echo_json, entry_json, json_option, progress_bars, registry_option
from ..display import printable
from ..errors import MoleError
from ..registry import Registry


@cli.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--base", required=True, help="Base model: Hub id or local path.")
@click.option("--revision", default=None, help="Hub revision of the base model.")
@click.option(
    "--dtype",
    type=click.Choice(["float32", "bfloat16", "float16"]),
    default="float32",
    show_default=True,
    help="Dtype the base model is loaded in (bfloat16/float16 halve its memory).",
)
@json_option
@registry_option
def init(
    directory: Path | None, base: str, revision: str | None, dtype: str, as_json: bool, registry_dir: Path
) -> None:
    """Create a registry in DIRECTORY (default: --registry, else the current directory)."""
    registry = Registry.init(directory or registry_dir, base=base, revision=revision, dtype=dtype)
    if as_json:
        echo_json({"manifest": str(registry.manifest_path), "base": registry.load().base.model_dump()})
    else:
        click.echo(printable(f"created {registry.manifest_path} for base model {base}"))


@cli.command("add-expert")
@click.argument("name")
@click.option("--adapter", type=click.Path(path_type=Path), help="PEFT adapter directory to copy in.")
@click.option("--hub", "hub_ref", help="Hub repo REPO_ID[@REVISION] to fetch the adapter from.")
@click.option("--task", help="One sentence: what the expert is for.")
@click.option("--rank", type=int, help="Expected LoRA rank (refused if the adapter says otherwise).")
@click.option("--alpha", type=float, help="Expected LoRA alpha (refused if the adapter says otherwise).")
@click.option("--example", "examples", multiple=True, help="An example query (repeatable), for routing.")
@click.option("--plugin", help="Plugin whose expert spec this adapter implements.")
@click.option(
    "--prompt-template",
    help="How queries are framed for it, with {query} where the query goes "
    "(the template it was trained with) [the plugin spec's, else {query}].",
)
@click.option("--replace", is_flag=True, help="Replace an expert of the same name.")
@click.option("--allow-pickle", is_flag=True, help="Accept a pickle (.bin) adapter: only if you trust it.")
@click.option(
    "--allow-base-mismatch",
    is_flag=True,
    help="Register a local adapter whose recorded base model has another name (you know it is a copy of "
    "this registry's base); its tensor shapes are still checked.",
)
@json_option
@registry_option
def add_expert(
    name: str,
    adapter: Path | None,
    hub_ref: str | None,
    task: str | None,
    rank: int | None,
    alpha: float | None,
    examples: tuple[str, ...],
    plugin: str | None,
    prompt_template: str | None,
    replace: bool,
    allow_pickle: bool,
    allow_base_mismatch: bool,
    as_json: bool,
    registry_dir: Path,
) -> None:
    """Register the LoRA adapter NAME from a local directory or the Hub."""
    from ..experts import add_expert as add

    if (adapter is None) == (hub_ref is None):
        raise click.UsageError("give exactly one of --adapter DIR or --hub REPO_ID[@REV]")
    entry = add(
        Registry(registry_dir),
        name,
        adapter=adapter,
        hub=hub_ref,
        task=task,
        rank=rank,
        alpha=alpha,
        examples=list(examples),
        plugin=plugin,
        prompt_template=prompt_template,
        replace=replace,
        allow_pickle=allow_pickle,
        allow_base_mismatch=allow_base_mismatch,
        progress=progress_bars(),
    )
    if as_json:
        echo_json(entry_json(entry))
    else:
        click.echo(
            f"registered {entry.name} (r={entry.rank}, alpha={entry.alpha:g}, sha256 {entry.sha256[:12]}…)"
        )


@cli.command("import-experts")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--task", help="One sentence for every imported expert (else the plugin spec's, if any).")
@click.option("--plugin", help="Plugin whose expert specs these adapters implement.")
@click.option("--replace", is_flag=True, help="Replace experts of the same names.")
@click.option("--allow-pickle", is_flag=True, help="Accept pickle (.bin) adapters: only if you trust them.")
@json_option
@registry_option
def import_experts(
    paths: tuple[Path, ...],
    task: str | None,
    plugin: str | None,
    replace: bool,
    allow_pickle: bool,
    as_json: bool,
    registry_dir: Path,
) -> None:
    """Register many adapters at once, each named after its directory: PATHS are adapter directories or
    directories of them. An examples.txt beside an adapter (one query per line) gives its routing
    examples. All or none: one manifest write, nothing registered if any adapter is refused."""
    from ..experts import import_experts as run

    entries = run(
        Registry(registry_dir),
        list(paths),
        task=task,
        plugin=plugin,
        replace=replace,
        allow_pickle=allow_pickle,
        progress=None if as_json else progress_bars(),
    )
    if as_json:
        echo_json([entry_json(e) for e in entries])
    else:
        click.echo(f"registered {len(entries)} experts in {registry_dir}")


@cli.command("remove-expert")
@click.argument("name")
@click.option(
    "-y", "--yes", is_flag=True, help="Do not ask for confirmation (needed when not on a terminal)."
)
@json_option
@registry_option
def remove_expert(name: str, yes: bool, as_json: bool, registry_dir: Path) -> None:
    """Remove the expert NAME and its files (asks first on a terminal)."""
    registry = Registry(registry_dir)
    if not yes:
        registry.get_expert(name)  # a missing expert is reported before any question
        if not clihelp.on_terminal():
            raise MoleError(
                f"removing {name!r} deletes its files: pass --yes to confirm (no terminal to ask on)"
            )
        click.confirm(f"Remove expert {name!r} and delete its files?", abort=True, err=True)
    entry = registry.remove_expert(name)
    if as_json:
        echo_json({"removed": name, "path": entry.path})
    else:
        click.echo(f"removed {name}")


@cli.command("list")
@json_option
@registry_option
def list_(as_json: bool, registry_dir: Path) -> None:
    """List registered experts."""
    manifest = Registry(registry_dir).load()
    if as_json:
        echo_json(
            {
                "base": manifest.base.model_dump(mode="json", exclude_none=True),
                "router": manifest.router.model_dump(mode="json", exclude_none=True)
                if manifest.router
                else None,
                "experts": [entry_json(e) for e in manifest.experts],
            }
        )
        return
    click.echo(printable(f"base model: {manifest.base.id} ({manifest.base.dtype})"))
    if manifest.router:
        click.echo(printable(f"router:     {manifest.router.name} over {', '.join(manifest.router.labels)}"))
    if not manifest.experts:
        click.echo("no experts registered (mole add-expert NAME --adapter DIR)")
        return
    rows = [("NAME", "RANK", "ALPHA", "PLUGIN", "TASK")] + [
        (e.name, str(e.rank), f"{e.alpha:g}", printable(e.plugin or "-"), printable(e.task or "-"))
        for e in manifest.experts
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)) + "  " + row[4])


@cli.command()
@click.argument("name")
@json_option
@registry_option
def show(name: str, as_json: bool, registry_dir: Path) -> None:
    """Show everything recorded about the expert NAME."""
    entry = Registry(registry_dir).get_expert(name)
    data = entry_json(entry)
    if as_json:
        echo_json(data)
        return
    for key, value in data.items():
        if isinstance(value, (dict, list)):
            value = json.dumps(value, default=str, ensure_ascii=False)
        click.echo(f"{key + ':':16} {printable(value)}")


@cli.command()
@click.option(
    "--clean", is_flag=True, help="Delete what interrupted writes left behind (never listed entries)."
)
@click.option(
    "--older-than",
    type=click.FloatRange(min=0),
    default=60,
    show_default=True,
    help="With --clean: only leftovers at least this many minutes old (younger may be in progress).",
)
@json_option
@registry_option
def validate(clean: bool, older_than: float, as_json: bool, registry_dir: Path) -> None:
    """Check every entry's files, checksums and configs; exit 1 on any problem. Also lists leftovers of
    interrupted writes (not problems), which --clean deletes."""
    registry = Registry(registry_dir)
    removed = registry.clean(older_than * 60) if clean else []
    problems = registry.validate()
    leftovers = registry.leftovers()
    if as_json:
        echo_json(
            {
                "ok": not problems,
                "problems": [{"subject": p.subject, "message": p.message} for p in problems],
                "leftovers": [_leftover_json(item) for item in leftovers],
                "removed": [_leftover_json(item) for item in removed],
            }
        )
    else:
        for item in removed:
            click.echo(printable(f"removed leftover: {item}"))
        for problem in problems:
            click.echo(printable(f"problem: {problem}"))
        for item in leftovers:
            click.echo(printable(f"leftover: {item}"))
        if leftovers:
            hint = "--clean" if clean else "`mole validate --clean`"
            click.echo(
                f"note: leftovers of interrupted writes are never listed; {hint} deletes those older than "
                f"--older-than minutes ({older_than:g})"
            )
        if not problems:
            click.echo(f"{registry.manifest_path}: ok ({len(registry.experts())} experts)")
    if problems:
        sys.exit(1)


def _leftover_json(item: Any) -> dict[str, Any]:
    return {"path": str(item.path), "kind": item.kind, "bytes": item.bytes, "age_s": round(item.age_s, 1)}


@cli.command()
def schema() -> None:
    """Print the manifest's JSON Schema (the source of registry/schema.json)."""
    from ..manifest import schema_text

    click.echo(schema_text(), nl=False)
