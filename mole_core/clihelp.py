"""What every ``mole`` command shares in its help: an example (the epilog) and the verbosity options,
accepted before the subcommand and after it (``mole -v list`` and ``mole list -v``)."""

from __future__ import annotations

import logging
import warnings
from typing import Any

import click

#: An example per built-in command, shown under its ``--help``. Plugin commands set their own epilog.
EXAMPLES: dict[str, list[str]] = {
    "init": ["mole init my-reg --base HuggingFaceTB/SmolLM2-135M-Instruct"],
    "add-expert": [
        'mole add-expert legal --adapter ./my-legal-lora --example "Is this clause enforceable?"',
        "mole add-expert reasoning --hub me/mole-reasoning@v1",
    ],
    "remove-expert": ["mole remove-expert legal --yes"],
    "list": ["mole list --registry my-reg --json"],
    "show": ["mole show reasoning"],
    "validate": ["mole validate --clean --older-than 120"],
    "schema": ["mole schema > registry/schema.json"],
    "route": [
        'mole route "Solve 2x+3=7" "Who wrote Hamlet?"',
        "cat queries.txt | mole route --file - --json",
    ],
    "generate": [
        'mole generate "Solve 2x+3=7" --max-new-tokens 64',
        "mole generate --file questions.jsonl --expert reasoning --json",
        'echo "How do vaccines work?" | mole generate --file - --top-k 2',
    ],
    "memory": ["mole memory --full-models 2 --json"],
    "train-expert": ["mole train-expert reasoning --max-steps 200 --lr 2e-4"],
    "train-router": ["mole train-router --router minilm --size 4000"],
    "eval": [
        "mole eval --n-texts 16 --n-answers 50 --json",
        "mole eval --tasks mole_gsm8k_mc --limit 20 --compare",
    ],
    "push": ["mole push reasoning --repo-id me/mole-reasoning", "mole push --all --repo-id me/my-registry"],
    "pull": ["mole pull me/mole-reasoning@v1 --name reasoning"],
    "pull-registry": ["mole pull-registry me/my-registry my-reg"],
    "plugins": ["mole plugins --json"],
    "serve": ["mole serve --port 8000"],
    "export": ["mole export vllm"],
    "import-experts": ["mole import-experts ./adapters/*", "mole import-experts ./many-adapters --json"],
    "install": ["mole install mole-expert-code", "mole install ./examples/mole-expert-code"],
    "uninstall": ["mole uninstall mole-expert-code --yes"],
}


def example_epilog(lines: list[str]) -> str:
    """An epilog click prints verbatim (``\\b`` keeps the lines as written)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def _set_verbosity(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """Accumulate -v / -q from wherever they appear on the line and apply the result at once."""
    if not value:
        return
    meta = ctx.find_root().meta
    if param.name == "quiet":
        meta["mole.quiet"] = True
    else:
        meta["mole.verbose"] = meta.get("mole.verbose", 0) + int(value)
    apply_verbosity(meta.get("mole.verbose", 0), meta.get("mole.quiet", False))


def apply_verbosity(verbose: int, quiet: bool) -> None:
    """Logging level: errors only (-q), warnings (default), info (-v), debug (-vv)."""
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.getLogger().setLevel(level)
    if verbose >= 2 and not quiet:
        warnings.simplefilter("default")  # library deprecations are for developers: shown at -vv


def is_quiet() -> bool:
    """Whether -q was given (progress bars and status lines are then left out)."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.find_root().meta.get("mole.quiet"))


def on_terminal() -> bool:
    """Whether a person can answer a question (standard input is a terminal)."""
    import sys

    return sys.stdin is not None and sys.stdin.isatty()


def verbosity_options() -> list[click.Option]:
    """-v/--verbose and -q/--quiet, for the group and every subcommand."""
    return [
        click.Option(
            ["-v", "--verbose"],
            count=True,
            expose_value=False,
            callback=_set_verbosity,
            help="More logging (-v info, -vv debug); also before the subcommand.",
        ),
        click.Option(
            ["-q", "--quiet"],
            is_flag=True,
            expose_value=False,
            callback=_set_verbosity,
            help="Only errors: no warnings, progress bars or status lines.",
        ),
    ]


def decorate(command: click.Command, name: str | None) -> None:
    """Give ``command`` the shared verbosity options and, if it has none, its example epilog."""
    names = {opt for p in command.params for opt in getattr(p, "opts", [])}
    if names.isdisjoint({"-v", "--verbose", "-q", "--quiet"}):  # a plugin's own -v/-q wins
        command.params.extend(verbosity_options())
    if not command.epilog and name in EXAMPLES:
        command.epilog = example_epilog(EXAMPLES[name])
