"""``mole quickstart``: the whole system, offline, end to end, on the embedded SmolLM2-135M.

Creates a registry, trains the four paper experts briefly (a quick profile: the paper's lr 1e-6
barely moves a model in minutes), trains a router, routes the paper's 16 queries and real held-out
questions, answers a few, measures memory and evaluates. Re-running reuses what exists.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from mole_core import plugins
from mole_core.basemodel import DEFAULT_BASE
from mole_core.errors import MoleError
from mole_core.progress import Progress
from mole_core.registry import Registry
from mole_core.routing import BASE

from ..experts import PAPER_EXPERTS

log = logging.getLogger(__name__)

DEMO_QUERIES = (
    "A baker makes 24 muffins and sells 3 boxes of 6. How many muffins are left?",
    "Should cities ban cars from their centres?",
    "How do vaccines train the immune system?",
    "What is the capital of Australia?",
)


class QuickstartSettings(BaseModel):
    """Sizes of every stage; the defaults take a few minutes on 2 CPU cores."""

    base: str = DEFAULT_BASE
    experts: list[str] = Field(default_factory=lambda: [name for name, *_ in PAPER_EXPERTS])
    steps: int = Field(default=12, ge=1, description="Optimizer steps per expert (quick profile).")
    lr: float = Field(default=2e-4, gt=0)
    batch_size: int = Field(default=4, ge=1, description="Examples per optimizer step.")
    micro_batch: int = Field(
        default=1,
        ge=1,
        description="Examples per forward pass; the step accumulates batch_size / micro_batch of them. "
        "The same update as one pass of batch_size, with a fraction of the activation memory (batch 4 at "
        "256 tokens held ~3 GB of fp32 activations for the 135M model).",
    )
    max_length: int = Field(default=256, ge=16)
    limit: int = Field(default=400, ge=1, description="Training examples per expert.")
    router: str = "minilm"
    router_size: int = Field(
        default=10_000, ge=8, description="Synthesized routing queries (the paper's size)."
    )
    answer: int = Field(default=4, ge=0, description="How many demo queries to answer.")
    max_new_tokens: int = Field(default=48, ge=1)
    eval_texts: int = Field(default=16, ge=0, description="Held-out texts per domain for the loss table.")
    eval_gsm8k: int = Field(default=0, ge=0, description="GSM8K problems for exact match (slow on CPU).")
    full_models: int = Field(default=2, ge=0, description="Full models to load for the memory comparison.")
    device: str | None = Field(
        default=None, description="Where the loaded system runs (None: MOLE_DEVICE, else auto)."
    )


class StageEvent(BaseModel):
    """A progress message for whoever drives the quickstart (the CLI prints them)."""

    stage: str
    message: str
    data: dict[str, Any] = Field(default_factory=dict)


class QuickstartReport(BaseModel):
    registry: str
    trained: list[str] = Field(default_factory=list)
    reused: list[str] = Field(default_factory=list)
    training: dict[str, dict[str, Any]] = Field(default_factory=dict)
    router: dict[str, Any] = Field(default_factory=dict)
    routing: dict[str, Any] = Field(default_factory=dict, description="file name -> RoutingReport")
    answers: list[dict[str, Any]] = Field(default_factory=list)
    memory: dict[str, Any] | None = None
    evaluation: dict[str, Any] | None = None


Events = Callable[[StageEvent], None]


def data_file(name: str) -> Path:
    """A bundled evaluation file of the built-in plugins (``mole_plugins/data``)."""
    return Path(__file__).resolve().parent.parent / "data" / name


def run(
    directory: str | os.PathLike[str],
    settings: QuickstartSettings | None = None,
    *,
    on_event: Events | None = None,
    trainer_callbacks: Callable[[str], list[Any]] | None = None,
    progress: Progress | None = None,
) -> QuickstartReport:
    """Run every stage; ``on_event`` receives stage messages, ``trainer_callbacks(name)`` extra Trainer
    callbacks, ``progress(stage, done, total, info)`` the router's training and the evaluation's steps."""
    from mole_core.devices import resolve_device

    settings = settings or QuickstartSettings()
    device = resolve_device(settings.device)  # a device this machine lacks fails now, not after training
    emit = on_event or (lambda event: log.info("%s: %s", event.stage, event.message))
    registry = _registry(Path(directory), settings, emit)
    report = QuickstartReport(registry=str(registry.root))
    _train_experts(registry, settings, report, emit, trainer_callbacks)
    _train_router(registry, settings, report, emit, progress)
    router = _route(registry, report, emit)
    from mole_core.runtime import MoLE

    emit(StageEvent(stage="load", message="loading the base model once and attaching every expert"))
    # the router is already loaded: do not load it twice
    mole = MoLE.from_registry(registry, router=router, device=device)
    _answer(mole, settings, report, emit)
    _memory(mole, settings, report, emit)
    _evaluate(registry, mole, settings, report, emit, progress)
    return report


def _registry(directory: Path, settings: QuickstartSettings, emit: Events) -> Registry:
    if (directory / "mole.toml").is_file():
        registry = Registry(directory)
        base = registry.load().base.id
        if base != settings.base:
            raise MoleError(
                f"{directory} is a registry for {base!r}, not {settings.base!r}: choose another DIR"
            )
        emit(StageEvent(stage="registry", message=f"reusing {directory}/mole.toml (base {base})"))
        return registry
    registry = Registry.init(directory, base=settings.base)
    emit(StageEvent(stage="registry", message=f"created {directory}/mole.toml (base {settings.base})"))
    return registry


def _train_experts(
    registry: Registry,
    settings: QuickstartSettings,
    report: QuickstartReport,
    emit: Events,
    trainer_callbacks: Callable[[str], list[Any]] | None,
) -> None:
    from mole_core.training import TrainingSettings, train_expert

    catalogue = plugins.catalogue()
    missing = [name for name in settings.experts if name not in catalogue.experts]
    if missing:
        raise MoleError(
            f"no expert spec for {', '.join(missing)} (is the plugin installed? see `mole plugins`)"
        )
    for name in settings.experts:
        existing = registry.load().expert(name)
        if existing is not None and existing.training is not None:
            report.reused.append(name)
            emit(
                StageEvent(
                    stage="train", message=f"reusing expert {name} (trained earlier, r={existing.rank})"
                )
            )
            continue
        micro = settings.micro_batch if settings.batch_size % settings.micro_batch == 0 else 1
        train_settings = TrainingSettings(
            lr=settings.lr,
            batch_size=micro,
            grad_accum=settings.batch_size // micro,
            max_steps=settings.steps,
            max_length=settings.max_length,
            warmup=0.1,
            limit=settings.limit,
        )
        spec = catalogue.experts[name]
        emit(
            StageEvent(
                stage="train",
                message=f"training {name}: r={spec.lora.rank}, {spec.dataset}, {settings.steps} steps, lr {settings.lr:g}",
            )
        )
        result = train_expert(
            registry, name, train_settings, callbacks=trainer_callbacks(name) if trainer_callbacks else ()
        )
        report.trained.append(name)
        report.training[name] = {
            "steps": result.steps,
            "examples": result.examples,
            "first_loss": result.first_loss,
            "final_loss": result.final_loss,
            "seconds": result.seconds,
            "dataset": result.dataset,
        }


def _train_router(
    registry: Registry,
    settings: QuickstartSettings,
    report: QuickstartReport,
    emit: Events,
    progress: Progress | None = None,
) -> None:
    from mole_core.routing import train_router

    manifest = registry.load()
    current = manifest.router
    experts = [label for label in current.labels if label != BASE] if current is not None else []
    if current is not None and current.name == settings.router and experts == manifest.names():
        report.router = {"kind": current.name, "reused": True, "metrics": current.metrics}
        emit(
            StageEvent(
                stage="router", message=f"reusing router {current.name} over {', '.join(current.labels)}"
            )
        )
        return
    emit(
        StageEvent(
            stage="router",
            message=f"training router {settings.router} on {settings.router_size} synthesized queries",
        )
    )
    result = train_router(registry, settings.router, size=settings.router_size, progress=progress)
    report.router = {
        "kind": result.kind,
        "reused": False,
        "seconds": result.seconds,
        "train_size": result.train_size,
        "unique_train": result.unique_train,
        "held_out_accuracy": result.held_out.accuracy,
    }


def _route(registry: Registry, report: QuickstartReport, emit: Events) -> Any:
    """Score the registry's router on the bundled files; return it for the runtime to reuse."""
    from mole_core.routing import evaluate_routing, load_router, read_labelled_file

    manifest = registry.load()
    router = load_router(registry, manifest)
    for name, title in (
        ("paper_test16.jsonl", "the paper's 16 test queries"),
        ("real_questions_dev.jsonl", "95 real questions no router trained on"),
    ):
        rows = read_labelled_file(data_file(name), labels=manifest.names())
        result = evaluate_routing(router, [r.query for r in rows], [r.expert for r in rows], name=title)
        report.routing[name] = result.model_dump()
        emit(StageEvent(stage="route", message=result.summary(), data={"table": result.table()}))
    return router


def _answer(mole: Any, settings: QuickstartSettings, report: QuickstartReport, emit: Events) -> None:
    queries = list(DEMO_QUERIES[: settings.answer])
    if not queries:
        return
    emit(StageEvent(stage="answer", message=f"answering {len(queries)} queries in one mixed batch"))
    for g in mole.generate(queries, max_new_tokens=settings.max_new_tokens):
        report.answers.append(g.model_dump())
    emit(StageEvent(stage="answer", message="", data={"answers": report.answers}))


def _memory(mole: Any, settings: QuickstartSettings, report: QuickstartReport, emit: Events) -> None:
    from mole_core.memory import measure_fresh

    emit(StageEvent(stage="memory", message=f"measuring memory (loading {settings.full_models} full models)"))
    # in a fresh process: the same figure `mole memory` prints, without this process's training heap
    report.memory = measure_fresh(mole.registry.root, full_models=settings.full_models).model_dump()
    emit(StageEvent(stage="memory", message="", data={"memory": report.memory}))


def _evaluate(
    registry: Registry,
    mole: Any,
    settings: QuickstartSettings,
    report: QuickstartReport,
    emit: Events,
    progress: Progress | None = None,
) -> None:
    if not settings.eval_texts and not settings.eval_gsm8k:
        return
    from mole_core.evaluation import evaluate

    emit(
        StageEvent(
            stage="eval",
            message=f"evaluating the base, each expert, the routed system and the oracle on {settings.eval_texts} texts per domain",
        )
    )
    result = evaluate(
        registry, n_texts=settings.eval_texts, n_gsm8k=settings.eval_gsm8k, system=mole, progress=progress
    )
    report.evaluation = json.loads(result.model_dump_json())
    emit(StageEvent(stage="eval", message="", data={"evaluation": report.evaluation}))
