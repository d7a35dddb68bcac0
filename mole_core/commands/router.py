"""``mole train-router``: a thin layer over :func:`mole_core.routing.train_router`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..cli import cli, echo_json, json_option, progress_bars, registry_option
from ..registry import Registry


def _print_report(report: Any) -> None:
    click.echo(
        f"trained {report.kind} router over {', '.join(report.labels)} in {report.seconds:.0f}s "
        f"on {report.train_size} queries ({report.unique_train} unique)"
    )
    if report.training.get("final_loss") is not None:
        click.echo(f"final training loss: {report.training['final_loss']:.4f}")
    click.echo(report.calibration.summary())
    for evaluation in [report.held_out, *report.evaluations]:
        click.echo("")
        click.echo(evaluation.summary())
        click.echo(evaluation.table())
    click.echo("")
    click.echo(f"saved to {report.path} (sha256 {report.sha256[:12]}…) and recorded in mole.toml")


@cli.command("train-router")
@click.option(
    "--router",
    "kind",
    default="minilm",
    show_default=True,
    help="Router kind: bert-tiny, minilm, embedding, or a plugin's.",
)
@click.option(
    "--size",
    type=click.IntRange(min=2),
    default=10_000,
    show_default=True,
    help="Training queries (balanced over experts).",
)
@click.option(
    "--epochs", type=click.IntRange(min=1), default=None, help="Training epochs (default: the router kind's)."
)
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Learning rate (default: the router kind's).",
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=None, help="Batch size (default: the router kind's)."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for data synthesis and training.")
@click.option(
    "--test-fraction",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.2,
    show_default=True,
    help="Share of each expert's templates held out for testing.",
)
@click.option(
    "--no-dataset-queries", is_flag=True, help="Do not use the experts' dataset prompts as examples."
)
@click.option("--finetune", is_flag=True, help="minilm: also fine-tune the encoder (slow on CPU).")
@click.option(
    "--eval-file",
    "eval_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSONL of real questions with 'query' and 'expert' to report accuracy on (repeatable).",
)
@click.option(
    "--negatives",
    "negatives",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Off-topic requests (plain lines or JSONL 'query') that should reach the base model; added to "
    "the bundled ones (repeatable).",
)
@click.option("--no-bundled-negatives", is_flag=True, help="Do not use MoLE's bundled off-topic requests.")
@click.option(
    "--min-confidence",
    type=click.FloatRange(0, 1),
    default=None,
    help="Below this calibrated score a query goes to the base model [chosen on held-out data]; 0 disables.",
)
@json_option
@registry_option
def train_router(
    kind: str,
    size: int,
    epochs: int | None,
    lr: float | None,
    batch_size: int | None,
    seed: int,
    test_fraction: float,
    no_dataset_queries: bool,
    finetune: bool,
    eval_files: tuple[Path, ...],
    negatives: tuple[Path, ...],
    no_bundled_negatives: bool,
    min_confidence: float | None,
    as_json: bool,
    registry_dir: Path,
) -> None:
    """Train a router over the registered experts, report held-out accuracy, and record it in the registry."""
    from ..routing import train_router as train

    options = {"finetune": True} if finetune else {}
    if finetune and kind != "minilm":
        raise click.UsageError("--finetune applies to the minilm router only")
    report = train(
        Registry(registry_dir),
        kind,
        size=size,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        test_fraction=test_fraction,
        dataset_queries=not no_dataset_queries,
        eval_files=list(eval_files),
        negatives=list(negatives),
        bundled_negatives=not no_bundled_negatives,
        min_confidence=min_confidence,
        options=options,
        progress=progress_bars(),
    )
    if as_json:
        echo_json(report.model_dump(mode="json"))
    else:
        _print_report(report)
