"""``mole quickstart [DIR]``: the main job, offline, end to end. Prints as it goes.

Added to ``mole`` by the paper plugin's ``register_commands`` hook; it uses the CLI's shared options
and formatters as any plugin command may.
"""

from __future__ import annotations

from pathlib import Path

import click

from mole_core.cli import device_option, echo_json, json_option, progress_bars

HEADINGS = {
    "registry": "1. Registry",
    "train": "2. Experts (LoRA, quick profile)",
    "router": "3. Router",
    "route": "4. Routing",
    "load": "5. Runtime",
    "answer": "6. Answers",
    "memory": "7. Memory (measured)",
    "eval": "8. Evaluation",
}


@click.command(
    epilog="\b\nExamples:\n  mole quickstart\n  mole quickstart my-demo --steps 4 --router-size 2000 --n-texts 4 --json"
)
@click.argument(
    "directory", required=False, default="mole-demo", type=click.Path(file_okay=False, path_type=Path)
)
@click.option("--base", help="Base model (default: the embedded SmolLM2-135M-Instruct).")
@click.option("--steps", type=click.IntRange(min=1), help="Training steps per expert [12].")
@click.option("--limit", type=click.IntRange(min=1), help="Training examples per expert [400].")
@click.option("--max-length", type=click.IntRange(min=16), help="Tokens per training example [256].")
@click.option("--router", help="Router kind [minilm].")
@click.option("--router-size", type=click.IntRange(min=8), help="Synthesized routing queries [10000].")
@click.option(
    "--n-texts",
    "eval_texts",
    type=click.IntRange(min=0),
    help="Held-out texts per domain for the loss table [16] (as in `mole eval --n-texts`).",
)
@click.option("--eval-texts", "eval_texts_alias", type=click.IntRange(min=0), hidden=True)
@click.option(
    "--eval-gsm8k", type=click.IntRange(min=0), help="GSM8K problems for exact match [0: slow on CPU]."
)
@click.option(
    "--full-models", type=click.IntRange(min=0), help="Full models loaded for the memory comparison [2]."
)
@click.option("--max-new-tokens", type=click.IntRange(min=1), help="Tokens per demo answer [48].")
@device_option
@json_option
def quickstart(directory: Path, as_json: bool, **overrides: object) -> None:
    """Build a working MoLE in DIRECTORY (default ./mole-demo) from nothing, offline, and show it off.

    Afterwards every command takes it as --registry DIRECTORY.
    """
    from mole_core.commands.runtime import format_memory
    from mole_core.commands.train import format_report, progress_callback
    from mole_core.evaluation import EvalReport
    from mole_core.memory import MemoryReport

    from .quickstart import QuickstartSettings, StageEvent, run

    alias = overrides.pop("eval_texts_alias", None)  # the old spelling, --eval-texts, still works
    if overrides.get("eval_texts") is None:
        overrides["eval_texts"] = alias
    settings = QuickstartSettings(**{k: v for k, v in overrides.items() if v is not None})
    seen: set[str] = set()

    def out(line: str = "", **style: object) -> None:
        click.secho(line, err=as_json, **style)  # with --json, progress goes to stderr

    def on_event(event: StageEvent) -> None:
        if event.stage not in seen:
            seen.add(event.stage)
            out(f"\n{HEADINGS.get(event.stage, event.stage)}", bold=True)
        if event.message:
            out(f"  {event.message}")
        for line in event.data.get("table", "").splitlines():
            out(f"    {line}")
        for answer in event.data.get("answers", []):
            out(f"  [{answer['expert']}] {answer['query']}", fg="cyan")
            out(f"    {answer['text'] or '(empty)'}")
        if "memory" in event.data:
            out(format_memory(MemoryReport.model_validate(event.data["memory"])))
        if "evaluation" in event.data:
            for line in format_report(EvalReport.model_validate(event.data["evaluation"])):
                out(f"  {line}")

    report = run(
        directory,
        settings,
        on_event=on_event,
        trainer_callbacks=lambda name: [progress_callback(desc=name)],
        progress=progress_bars(),
    )
    if as_json:
        echo_json(report.model_dump())
        return
    click.secho(f'\nDone. Try: mole generate "your question" --registry {directory}', bold=True)
