"""The lm-evaluation-harness half of ``mole eval`` (``--tasks``): options, the call, the table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..cli import echo_json, progress_bars

HARNESS_OPTIONS = ("tasks", "include_paths", "limit", "num_fewshot", "expert", "compare", "top_k", "batch_size", "apply_chat_template")  # fmt: skip


def harness_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--tasks`` family of options (lm-eval; needs ``pip install "mole-lora[eval]"``)."""
    options = [
        click.option("--tasks", help="lm-eval tasks, comma-separated (e.g. mole_gsm8k_mc,arc_easy): run lm-eval instead."),
        click.option("--include-path", "include_paths", multiple=True, type=click.Path(file_okay=False, path_type=Path),
                     help="Extra folder of lm-eval task YAMLs (the plugins' bundled tasks are always included)."),
        click.option("--limit", type=int, help="lm-eval: the first N documents of each task."),
        click.option("--num-fewshot", type=click.IntRange(min=0), help="lm-eval: few-shot examples [the task's]."),
        click.option("--expert", help="lm-eval: force this expert (or 'base') instead of routing."),
        click.option("--compare", is_flag=True, help="lm-eval: base, every expert, routed and the oracle side by side."),
        click.option("--top-k", type=click.IntRange(min=1), default=1, show_default=True, help="lm-eval: blend the K best experts."),
        click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True, help="lm-eval: requests per batch."),
        click.option("--apply-chat-template", is_flag=True, help="lm-eval: wrap prompts in the tokenizer's chat template."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def run_harness(
    registry_dir: Path, options: dict[str, Any], *, offline: bool | None, device: str | None, as_json: bool
) -> None:
    """``mole eval --tasks``: lm-eval on the routed system, one expert, or every configuration."""
    from ..errors import MoleError
    from ..harness.run import evaluate_tasks

    if options["compare"] and options["expert"]:
        raise MoleError("--compare runs every expert already: drop --expert")
    report = evaluate_tasks(
        registry_dir, options["tasks"].split(","), include_paths=options["include_paths"], limit=options["limit"],
        num_fewshot=options["num_fewshot"], expert=options["expert"], compare=options["compare"],
        top_k=options["top_k"], batch_size=options["batch_size"], apply_chat_template=options["apply_chat_template"],
        offline=offline, device=device, progress=progress_bars(),
    )  # fmt: skip
    if as_json:
        echo_json(report.model_dump(mode="json"))
        return
    for line in format_harness(report):
        click.echo(line)


def format_harness(report: Any) -> list[str]:
    """One table: a row per task and metric, a column per configuration (value ± stderr)."""
    columns = [c.name for c in report.configurations]
    keys: dict[str, Any] = {}
    cells: dict[tuple[str, str], str] = {}
    for config in report.configurations:
        for score in config.scores:
            keys.setdefault(score.key, score)
            text = "-" if score.value is None else f"{score.value:.4g}"
            if score.stderr is not None:
                text += f" ±{score.stderr:.2g}"
            cells[(score.key, config.name)] = text
    shots = "task default" if report.num_fewshot is None else report.num_fewshot
    limit = f", first {report.limit} documents per task" if report.limit else ""
    lines = [f"lm-eval on {report.base} ({shots} few-shot{limit}); ↑ higher is better, ↓ lower"]
    rows = [["task / metric", *columns]]
    for key, score in keys.items():
        arrow = {True: " ↑", False: " ↓"}.get(score.higher_is_better, "")
        rows.append([key + arrow, *(cells.get((key, c), "-") for c in columns)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    for config in report.configurations:
        if config.routed_to:
            spread = ", ".join(f"{k} {v}" for k, v in sorted(config.routed_to.items(), key=lambda kv: -kv[1]))
            lines.append(f"{config.name}: requests routed to {spread}")
    lines += [f"note: {note}" for note in report.notes]
    return lines
