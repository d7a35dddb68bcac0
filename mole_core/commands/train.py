"""``mole train-expert`` and ``mole eval``: thin wrappers over :mod:`mole_core.training` and
:mod:`mole_core.evaluation` (which import torch, so they are imported only when a command runs)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import click

from ..cli import (
    cli,
    device_option,
    echo_json,
    json_option,
    max_loaded_option,
    progress_bars,
    registry_option,
)
from .harness import harness_options, run_harness

PLAN_KEYS = (
    "dataset", "source", "examples", "prompt_template", "planned_steps", "lr", "batch_size", "grad_accum", "epochs", "max_steps",
    "max_length", "warmup", "scheduler", "weight_decay", "max_grad_norm", "lora_rank", "lora_alpha",
    "lora_dropout", "seed", "save_every", "work_dir", "resume_from",
)  # fmt: skip


def _quiet_deprecations() -> None:
    """transformers warns about its own internals (not the user's doing) on every PEFT training run."""
    warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*", category=FutureWarning)


def progress_callback(desc: str = "training") -> Any:
    """A TrainerCallback driving a tqdm bar (on stderr, so --json stdout stays clean) with each step's
    loss, grad norm and lr."""
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class TqdmProgress(TrainerCallback):
        bar: Any = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc=desc, unit="step")

        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any
        ) -> None:
            if self.bar is None or not logs or "loss" not in logs:
                return
            grad = logs.get("grad_norm")
            self.bar.set_postfix(
                loss=f"{logs['loss']:.4f}",
                grad_norm="-" if grad is None else f"{grad:.3g}",
                lr=f"{logs.get('learning_rate', 0):.2e}",
                refresh=False,
            )
            self.bar.update(state.global_step - self.bar.n)  # logging_steps=1: once per step

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.bar is not None:
                self.bar.close()

    return TqdmProgress()


def _show_plan(plan: dict[str, Any], json_mode: bool) -> None:
    width = max(len(k) for k in PLAN_KEYS)
    click.echo(f"training {plan['expert']} with:", err=json_mode)
    for key in PLAN_KEYS:
        if plan.get(key) is not None:
            click.echo(f"  {key:{width}}  {plan[key]}", err=json_mode)


@cli.command("train-expert")
@click.argument("name")
@click.option(
    "--config", "config", type=click.Path(dir_okay=False, path_type=Path), help="TOML/JSON settings file."
)
@click.option("--quick", is_flag=True, help="Demo preset: lr 2e-4, 25 steps, batch 4, 256 tokens.")
@click.option("--dataset", help="Dataset plugin name (default: the expert spec's dataset).")
@click.option(
    "--prompt-template", help="Frame each prompt, with {query} where it goes [the spec's, else {query}]."
)
@click.option(
    "--data", type=click.Path(path_type=Path), help="Local JSONL (prompt/completion or text) or text file."
)
@click.option("--lr", type=float, help="Peak learning rate [paper: 1e-6].")
@click.option("--batch-size", type=int, help="Examples per device step [2].")
@click.option("--grad-accum", type=int, help="Gradient accumulation steps [8].")
@click.option("--epochs", type=float, help="Epochs, when --max-steps is not given [2].")
@click.option("--max-steps", type=int, help="Optimizer steps (overrides --epochs).")
@click.option("--max-length", type=int, help="Tokens per example, prompt included [512].")
@click.option("--warmup", type=float, help="Warmup steps, or a ratio below 1 [100].")
@click.option("--rank", type=int, help="LoRA rank [the expert spec's].")
@click.option("--alpha", type=float, help="LoRA alpha [= rank].")
@click.option("--limit", type=int, help="Train on at most N examples.")
@click.option("--seed", type=int, help="Random seed [42].")
@click.option("--save-every", type=int, help="Checkpoint every N steps [about 1/5 of the run].")
@click.option(
    "--offline/--online",
    default=None,
    help="Bundled samples or the Hub [offline if HF_HUB_OFFLINE or no Hub].",
)
@click.option("--resume", is_flag=True, help="Continue from the latest good checkpoint.")
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Checkpoint dir; keeps the adapter there.",
)
@click.option("--task", help="One sentence: what the expert is for (default: the spec's).")
@json_option
@registry_option
def train_expert(
    name: str,
    config: Path | None,
    quick: bool,
    resume: bool,
    output: Path | None,
    task: str | None,
    as_json: bool,
    registry_dir: Path,
    **flags: Any,
) -> None:
    """Train the LoRA expert NAME on its dataset and register it (replacing an older NAME)."""
    from ..training import build_settings, train_expert

    _quiet_deprecations()
    settings = build_settings(config, flags, preset="quick" if quick else None)
    result = train_expert(
        registry_dir,
        name,
        settings,
        resume=resume,
        output=output,
        task=task,
        callbacks=[progress_callback(name)],
        on_start=lambda plan: _show_plan(plan, as_json),
    )
    if as_json:
        echo_json(result.model_dump(mode="json"))
        return
    entry = result.entry
    click.echo(
        f"registered {entry.name} (r={entry.rank}, sha256 {entry.sha256[:12]}…): {result.steps} steps on "
        f"{result.examples} examples in {result.seconds:.0f}s, loss {_num(result.first_loss)} -> {_num(result.final_loss)}"
    )


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


@cli.command("eval")
@click.option(
    "--file",
    "labelled",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Labelled JSONL (query, expert) for routing accuracy.",
)
@click.option(
    "--n-answers",
    "--n-gsm8k",
    "n_answers",
    default=20,
    show_default=True,
    help="Test problems per expert dataset with checkable answers, for exact match (0 skips).",
)
@click.option(
    "--n-texts", default=32, show_default=True, help="Test examples per domain for the loss table (0 skips)."
)
@click.option("--max-length", default=256, show_default=True, help="Tokens per scored example.")
@click.option("--max-new-tokens", default=256, show_default=True, help="Generation budget per answer.")
@click.option(
    "--offline/--online",
    default=None,
    help="Bundled samples or the Hub [offline if HF_HUB_OFFLINE or no Hub].",
)
@harness_options
@max_loaded_option
@device_option
@json_option
@registry_option
def eval_(
    labelled: Path | None,
    n_answers: int,
    n_texts: int,
    max_length: int,
    max_new_tokens: int,
    offline: bool | None,
    max_loaded_experts: int | str | None,
    device: str | None,
    as_json: bool,
    registry_dir: Path,
    **harness: Any,
) -> None:
    """Routing accuracy, held-out loss of base vs each expert on every domain, routed vs best single
    expert vs oracle, exact match of generated answers;
    with --tasks, lm-evaluation-harness tasks instead (--compare: base, experts, routed, oracle)."""
    from ..evaluation import evaluate

    _quiet_deprecations()
    if harness["tasks"]:
        run_harness(registry_dir, harness, offline=offline, device=device, as_json=as_json)
        return
    report = evaluate(
        registry_dir,
        labelled=labelled,
        n_answers=n_answers,
        n_texts=n_texts,
        max_length=max_length,
        max_new_tokens=max_new_tokens,
        offline=offline,
        progress=progress_bars(),
        device=device,
        max_loaded_experts=max_loaded_experts,
    )
    if as_json:
        echo_json(report.model_dump(mode="json"))
        return
    for line in format_report(report):
        click.echo(line)


def format_report(report: Any) -> list[str]:
    """The report as aligned text tables."""
    lines: list[str] = []
    if report.routing is not None:
        lines += _routing_lines(report.routing) + [""]
    if report.losses is not None:
        lines += _loss_lines(report.losses) + [""]
    if report.gain is not None:
        lines += gain_lines(report.gain) + [""]
    for result in report.answers.values():
        lines.append(f"{result.dataset} exact match on {result.n} test problems (greedy):")
        lines.append(f"  base    {result.base_accuracy:6.1%}")
        if result.routed_accuracy is not None:
            routed = ", ".join(f"{k} {v}" for k, v in sorted(result.routed_to.items(), key=lambda kv: -kv[1]))
            lines.append(f"  routed  {result.routed_accuracy:6.1%}   (routed to: {routed})")
        lines.append("")
    lines += [f"note: {note}" for note in report.notes]
    return lines[:-1] if lines and lines[-1] == "" else lines


def gain_lines(gain: Any) -> list[str]:
    """Routed vs best single expert vs oracle, per domain and overall (loss per token, lower is better)."""
    lines = [
        "routed vs best single expert vs oracle: loss per completion token on the same items (lower is "
        f"better; oracle = the best expert per item; best single expert overall: {gain.best_single})"
    ]
    rows = [["domain", "items", *gain.columns]]
    rows += [[r.domain, str(r.items), *(f"{r.loss[c]:.3f}" for c in gain.columns)] for r in gain.rows]
    lines += _table(rows)
    overall = gain.rows[-1]
    if gain.routed:
        spread = ", ".join(f"{k} {v}" for k, v in sorted(overall.routed_to.items(), key=lambda kv: -kv[1]))
        lines.append(f"  routed to: {spread}")
        best, routed, oracle = (overall.loss[k] for k in (gain.best_single, "routed", "oracle"))
        if best > oracle:
            lines.append(
                f"  routing recovers {(best - routed) / (best - oracle):.0%} of the best single expert's gap to the oracle"
            )
    return lines


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def _loss_lines(table: Any) -> list[str]:
    counts = sorted(set(table.texts.values()))
    lines = [
        f"held-out loss per completion token (perplexity) on {'/'.join(map(str, counts))} texts per domain; "
        "* best in column, [ ] the expert's own domain"
    ]
    rows = [["model", *table.columns]]
    for model, cells in table.rows.items():
        row = [model]
        for column in table.columns:
            cell = cells[column]
            text = f"{cell.loss:.3f} ({cell.perplexity:.3g})"
            text = f"[{text}]" if model in table.owners.get(column, []) else f" {text} "
            row.append(text + ("*" if table.best[column] == model else ""))
        rows.append(row)
    lines += _table(rows)
    for expert, gains in table.own_gain.items():
        parts = [
            f"{col} {gain:+.1%} {'(beats base)' if gain < 0 else '(NOT better than base)'}"
            for col, gain in gains.items()
        ]
        lines.append(f"  {expert}: " + ", ".join(parts))
    return lines


def _routing_lines(report: Any) -> list[str]:
    first, *rest = report.lines()  # the routing evaluation module says what a routing report shows
    lines = [f"routing {first}", *("  " + line for line in rest)]
    if report.mistakes:
        lines.append(
            f"  e.g. {report.mistakes[0].query!r}: expected {report.mistakes[0].expected}, routed to {report.mistakes[0].predicted}"
        )
    return lines
