"""One training run: resolve the plan, build the ``Trainer``, train, and register the adapter."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from .. import basemodel, plugins
from ..datasets import CompletionCollator, encode_examples, framed, load_examples, pad_id
from ..errors import MoleError, NotFoundError
from ..manifest import ExpertEntry, TrainingRecord
from ..registry import Registry
from ..specs import DEFAULT_TEMPLATE, ExpertSpec, require_name
from .callbacks import DivergenceGuard, LogProgress, ResumeLearningRate
from .checkpoints import _clear_checkpoints, _diverged, _finish, expert_lock, latest_checkpoint, work_dir
from .settings import TrainingPlan, TrainingSettings, auto_save_every, planned_steps, resolve_lora

log = logging.getLogger("mole_core.training")


class TrainResult(BaseModel):
    """What one successful run did; ``entry`` is the registered expert."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    entry: ExpertEntry
    work_dir: str
    dataset: str
    source: str
    examples: int
    steps: int
    epochs: float
    first_loss: float | None
    final_loss: float | None
    seconds: float
    resumed_from: str | None = None
    settings: dict[str, Any]


def _resolve_expert(name: str, settings: TrainingSettings) -> tuple[ExpertSpec | None, str | None]:
    require_name(name, "expert name")
    catalogue = plugins.catalogue()
    spec = catalogue.experts.get(name)
    if spec is None and settings.dataset is None and settings.data is None:
        known = ", ".join(sorted(catalogue.experts)) or "none"
        raise NotFoundError(
            f"no expert spec {name!r} (known: {known}); give a dataset or a data file to train it"
        )
    return spec, settings.dataset or (spec.dataset if spec else None)


def train_expert(
    registry: Registry | str | os.PathLike[str],
    name: str,
    settings: TrainingSettings | None = None,
    *,
    resume: bool = False,
    output: str | os.PathLike[str] | None = None,
    task: str | None = None,
    callbacks: Sequence[Any] = (),
    on_start: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train the LoRA expert ``name`` and register it (replacing an older one of that name).

    ``callbacks`` are extra ``TrainerCallback`` objects (the CLI's progress bar); ``on_start`` gets the
    resolved plan (settings, LoRA shape, data, steps; :meth:`TrainingPlan.flat`) before the first step.
    """
    registry = registry if isinstance(registry, Registry) else Registry(registry)
    manifest = registry.load()
    settings = settings or TrainingSettings()
    spec, dataset = _resolve_expert(name, settings)
    lora = resolve_lora(settings, spec)
    work = Path(output) if output is not None else work_dir(registry, name)
    with expert_lock(registry, name):
        data = load_examples(
            dataset, settings.data, split="train", limit=settings.limit, offline=settings.offline
        )
        resume_from = str(latest_checkpoint(work)) if resume else None
        if not resume:
            _clear_checkpoints(work)
        tokenizer = basemodel.load_tokenizer(manifest.base)
        template = settings.prompt_template or (spec.prompt_template if spec else DEFAULT_TEMPLATE)
        features = encode_examples(tokenizer, framed(data.examples, template), settings.max_length)
        if not features:
            raise MoleError(f"no usable examples in {data.name} (every completion was cut by max_length)")
        steps = planned_steps(len(features), settings)
        plan = TrainingPlan(
            settings=settings, lora=lora, expert=name, prompt_template=template, dataset=data.name,
            source=data.source, examples=len(features), planned_steps=steps,
            save_every=settings.save_every or auto_save_every(steps), work_dir=str(work), resume_from=resume_from,
        )  # fmt: skip
        _warn_small(len(features), settings)
        if on_start is not None:
            on_start(plan.flat())
        guard = DivergenceGuard(settings.max_loss, settings.loss_factor)
        trainer = _build_trainer(
            manifest,
            tokenizer,
            features,
            plan,
            [*callbacks, LogProgress(), ResumeLearningRate(settings.lr), guard],
        )
        started = time.monotonic()
        trainer.train(resume_from_checkpoint=resume_from)
        seconds = time.monotonic() - started
        if guard.diverged is not None:
            raise _diverged(work, guard)
        entry = _register(registry, trainer, spec, task, work, data, plan, guard, seconds)
        _finish(work, keep_adapter=output is not None)
    return _result(entry, trainer.state, plan, guard, seconds)


def _warn_small(examples: int, settings: TrainingSettings) -> None:
    if examples < settings.batch_size * settings.grad_accum:
        log.warning(
            "only %d examples for an effective batch of %d",
            examples,
            settings.batch_size * settings.grad_accum,
        )


def _result(
    entry: ExpertEntry, state: Any, plan: TrainingPlan, guard: DivergenceGuard, seconds: float
) -> TrainResult:
    return TrainResult(
        name=plan.expert,
        entry=entry,
        work_dir=plan.work_dir,
        dataset=plan.dataset,
        source=plan.source,
        examples=plan.examples,
        steps=state.global_step,
        epochs=float(state.epoch or 0),
        first_loss=guard.first_loss,
        final_loss=guard.last_loss,
        seconds=round(seconds, 2),
        resumed_from=plan.resume_from,
        settings=plan.flat(),
    )


def _training_args(settings: TrainingSettings, work: str, save_every: int) -> Any:
    """The ``TrainingArguments`` of a run: MoLE's settings, checkpoints every ``save_every`` steps, no printing."""
    import torch
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=work,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        learning_rate=settings.lr,
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps or -1,
        warmup_steps=int(settings.warmup) if settings.warmup >= 1 else settings.warmup,
        lr_scheduler_type=settings.scheduler,
        weight_decay=settings.weight_decay,
        max_grad_norm=settings.max_grad_norm,
        logging_steps=1,
        logging_nan_inf_filter=False,  # the default hides NaN losses behind an average
        save_strategy="steps",
        save_steps=save_every,
        save_total_limit=settings.keep_checkpoints,
        report_to="none",
        use_cpu=not torch.cuda.is_available(),
        seed=settings.seed,
        data_seed=settings.seed,
        disable_tqdm=True,
        remove_unused_columns=False,
        label_names=["labels"],
        dataloader_num_workers=0,
    )


def _build_trainer(
    manifest: Any,
    tokenizer: Any,
    features: list[dict[str, list[int]]],
    plan: TrainingPlan,
    callbacks: list[Any],
) -> Any:
    """A Trainer on a fresh LoRA over the fp32 base; Trainer's own printing callbacks removed."""
    from peft import LoraConfig, get_peft_model
    from transformers import PrinterCallback, ProgressCallback, Trainer, set_seed

    settings, lora = plan.settings, plan.lora
    set_seed(settings.seed)
    base = basemodel.load_model(manifest.base, dtype="float32")
    config = LoraConfig(
        r=lora.rank,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )
    try:
        model = get_peft_model(base, config)
    except ValueError as exc:
        raise MoleError(f"cannot put LoRA on {manifest.base.id}: {str(exc).splitlines()[0]}") from exc
    trainer = Trainer(
        model=model,
        args=_training_args(settings, plan.work_dir, plan.save_every),
        train_dataset=features,
        data_collator=CompletionCollator(pad_id(tokenizer)),
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    for noisy in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(noisy)
    return trainer


def _register(
    registry: Registry,
    trainer: Any,
    spec: ExpertSpec | None,
    task: str | None,
    work: Path,
    data: Any,
    plan: TrainingPlan,
    guard: DivergenceGuard,
    seconds: float,
) -> ExpertEntry:
    """Save the adapter (safetensors, recording the registry's base id) and register it."""
    adapter_dir = work / "adapter"
    shutil.rmtree(adapter_dir, ignore_errors=True)
    model = trainer.model
    for config in model.peft_config.values():
        config.base_model_name_or_path = registry.load().base.id
    # embeddings are never LoRA targets here; "auto" would query the Hub for the base's config
    model.save_pretrained(str(adapter_dir), safe_serialization=True, save_embedding_layers=False)
    state = trainer.state
    record = TrainingRecord(
        dataset=data.name,
        examples=plan.examples,
        steps=state.global_step,
        epochs=float(state.epoch or 0),
        learning_rate=plan.settings.lr,
        final_loss=guard.last_loss,
        seconds=round(seconds, 2),
        settings={k: v for k, v in plan.flat().items() if v is not None and k != "work_dir"},
    )
    return registry.add_expert(
        plan.expert,
        adapter_dir,
        replace=True,
        plugin=spec.plugin if spec else None,
        task=task or (spec.task if spec else f"trained on {data.name}"),
        examples=list(spec.routing.examples[:32]) if spec else None,
        prompt_template=plan.prompt_template,
        training=record,
    )
