"""The ``mole`` command line: parses, calls the library, prints. No logic lives here.

The commands live in :mod:`mole_core.commands`, one module per group; this module holds the group, the
shared options and error handling, and loads the command modules and then the plugins' commands.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import clihelp, plugins, redact
from .display import printable
from .errors import MoleError
from .manifest import ExpertEntry

COMMAND_MODULES = (
    "mole_core.commands.registry",
    "mole_core.commands.runtime",
    "mole_core.commands.train",
    "mole_core.commands.router",
    "mole_core.commands.hub",
    "mole_core.commands.serve",
    "mole_core.commands.export",
    "mole_core.commands.plugins",
)


class MoleGroup(click.Group):
    """Turns a :class:`MoleError` into ``error: <one line>`` and its exit status, without a traceback;
    gives every command (plugins' too) the -v/-q options and an example in its help."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        clihelp.decorate(cmd, name or cmd.name)
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MoleError as exc:
            click.secho(f"error: {exc}", err=True, fg="red")
            ctx.exit(exc.exit_code)
        except RecursionError:  # a user's file nested deeper than any parser recurses; boundaries name it
            click.secho("error: input nested too deeply to read", err=True, fg="red")
            ctx.exit(1)
        except OSError as exc:  # the system refused a path the user gave (too long, a device, read-only, ...)
            if exc.filename is None:
                raise
            where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
            click.secho(f"error: {printable(where)}: {exc.strerror or exc}", err=True, fg="red")
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except ValueError as exc:  # os calls on an argument with a NUL byte (click's Path checks too)
            if "null byte" not in str(exc):
                raise
            click.secho("error: an argument contains a NUL byte", err=True, fg="red")
            ctx.exit(2)


def registry_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--registry",
        "registry_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=".",
        envvar="MOLE_REGISTRY",
        show_envvar=True,
        show_default=True,
        help="Registry directory (holds mole.toml) [env MOLE_REGISTRY].",
    )(func)


def device_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--device",
        default=None,
        help="auto (a GPU when there is one), cpu, cuda, cuda:N or mps [env MOLE_DEVICE, else auto].",
    )(func)


class _Capacity(click.ParamType):
    name = "N|all"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from .adaptercache import resolve_capacity

        if value is None or (isinstance(value, str) and value.strip().lower() == "all"):
            return value
        try:
            resolve_capacity(value)
        except MoleError:
            self.fail(f"must be a positive integer or 'all', got {value!r}", param, ctx)
        return int(value)


def max_loaded_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--max-loaded-experts",
        type=_Capacity(),
        default=None,
        help="Adapters kept attached at once; others load on first use, least recently used evicted "
        "('all': no bound) [env MOLE_MAX_LOADED_EXPERTS, else 32].",
    )(func)


def progress_bars() -> Callable[..., None]:
    """``progress(stage, done, total, info=None)`` drawing one tqdm bar per stage on stderr, ``info``
    (epoch, loss, ...) as its postfix: the library reports progress through callbacks like this one."""
    from tqdm.auto import tqdm

    bars: dict[str, Any] = {}
    if clihelp.is_quiet():
        return lambda *args, **kwargs: None

    def progress(stage: str, done: int, total: int, info: dict[str, Any] | None = None) -> None:
        if total == 0:  # a status message, nothing to count
            click.echo(stage, err=True)
            return
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage)
        bar.update(done - bar.n)
        if info:
            bar.set_postfix(
                {k: f"{v:.4f}" if isinstance(v, float) else v for k, v in info.items()}, refresh=False
            )
        if done >= total:
            bar.close()

    return progress


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")(func)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def entry_json(entry: ExpertEntry) -> dict[str, Any]:
    return entry.model_dump(mode="json", exclude_none=True)


@click.group(
    cls=MoleGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=clihelp.example_epilog(["mole quickstart", 'mole generate "Solve 2x+3=7" --registry mole-demo']),
)
@click.version_option(package_name="mole-lora", prog_name="mole")
def cli() -> None:
    """MoLE: one frozen base model, many LoRA experts, a router that picks one per query.

    Every command takes -v/-vv (more logging) and -q (errors only), before or after its name.

    \b
    Environment (docs/configuration.md): MOLE_REGISTRY, MOLE_DEVICE, MOLE_MAX_LOADED_EXPERTS,
    MOLE_FAST_LORA, MOLE_CACHE, MOLE_LOCK_TIMEOUT, MOLE_LOAD_PLUGINS, MOLE_API_KEY,
    MOLE_ENGINE_API_KEY; and Hugging Face's HF_TOKEN, HF_ENDPOINT, HF_HUB_OFFLINE.
    """
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    redact.install()  # no token, credential header or signed URL query in -v/-vv output
    meta = click.get_current_context().meta
    verbose = meta.get("mole.verbose", 0)
    if verbose or meta.get("mole.quiet"):  # else logging stays as configured (basicConfig: warnings)
        clihelp.apply_verbosity(verbose, meta.get("mole.quiet", False))
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error" if verbose < 2 else "info")
    if verbose < 2:  # library deprecation chatter is for developers, not for users of the command
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)


cli.params.extend(clihelp.verbosity_options())


def _load_command_modules() -> None:
    for module in COMMAND_MODULES:
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)


_load_command_modules()
plugins.load_commands(cli)  # last: plugin commands may use everything above


def main() -> None:
    cli(prog_name="mole")
