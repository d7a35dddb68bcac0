"""Training one LoRA expert with the transformers ``Trainer`` and registering the result.

Defaults are the MoLE paper's protocol (lr 1e-6, batch 2 x 8 accumulation, grad norm 0.5, 100
warmup steps, cosine, weight decay 0.01, fp32, 512 tokens, 2 epochs, alpha = rank, dropout 0.1).
That learning rate barely moves a model in a short run, so a ``quick`` preset (lr 2e-4, 25 steps,
batch 4, 256 tokens) exists for demos. Settings come from, in rising precedence: the defaults, a
preset, a config file (TOML or JSON), explicit overrides (CLI flags).

Checkpoints go to a work directory (``<registry>/.train/<name>``) every few steps. A NaN/inf or
exploding loss stops training and keeps the last checkpoint whose weights were proven good (the
paper's pruning runs died this way); ``resume=True`` continues from the latest good checkpoint. One
expert trains in one process at a time (a non-blocking per-expert file lock).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from . import basemodel, plugins
from .datasets import CompletionCollator, encode_examples, framed, load_examples, pad_id
from .errors import MoleError, NotFoundError, RegistryBusyError
from .manifest import ExpertEntry, TrainingRecord
from .registry import Registry
from .specs import DEFAULT_TEMPLATE, ExpertSpec, PromptTemplate, check_name

log = logging.getLogger(__name__)

WORK_DIR = ".train"
CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
DEFAULT_RANK = 16
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "quick": {
        "lr": 2e-4,
        "max_steps": 25,
        "batch_size": 4,
        "grad_accum": 1,
        "max_length": 256,
        "warmup": 0.1,
    },
}
"""Named starting points; ``quick`` is what beat SmolLM2's GSM8K answer NLL by ~29% in 25 steps."""


class ConfigError(MoleError):
    """A training config file or setting is invalid (the message names the file and key)."""


class TrainingDivergedError(MoleError):
    """The loss went NaN/inf or exploded; the message names the last good checkpoint."""

    exit_code = 3


class TrainingSettings(BaseModel):
    """Every training knob; field names are the config-file keys and (with dashes) the CLI flags."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    lr: float = Field(default=1e-6, gt=0, le=10)
    batch_size: int = Field(default=2, ge=1)
    grad_accum: int = Field(default=8, ge=1)
    epochs: float = Field(default=2.0, gt=0)
    max_steps: int | None = Field(default=None, ge=1, description="Overrides epochs when set.")
    max_length: int = Field(default=512, ge=8)
    warmup: float = Field(default=100, ge=0, description="Steps, or a ratio of all steps when below 1.")
    scheduler: str = "cosine"
    weight_decay: float = Field(default=0.01, ge=0)
    max_grad_norm: float = Field(default=0.5, gt=0)
    rank: int | None = Field(default=None, ge=1, le=4096, description="Default: the expert spec's rank.")
    alpha: float | None = Field(default=None, gt=0, description="Default: the rank.")
    dropout: float | None = Field(default=None, ge=0, lt=1, description="Default: the spec's (0.1).")
    target_modules: list[str] | None = Field(default=None, min_length=1)
    limit: int | None = Field(default=None, ge=1, description="Train on at most this many examples.")
    dataset: str | None = Field(default=None, description="Dataset plugin name (default: the spec's).")
    prompt_template: PromptTemplate | None = Field(
        default=None, description="How prompts are framed, with {query} [the spec's, else {query}]."
    )
    data: Path | None = Field(default=None, description="Local JSONL/text file; wins over dataset.")
    offline: bool | None = Field(default=None, description="None: offline if HF_HUB_OFFLINE or no Hub.")
    seed: int = 42
    save_every: int | None = Field(
        default=None, ge=1, description="Checkpoint interval; default ~1/5 of the run."
    )
    keep_checkpoints: int = Field(default=2, ge=1)
    max_loss: float = Field(default=1e4, gt=0, description="A logged loss above this is divergence.")
    loss_factor: float = Field(default=100.0, gt=1, description="... as is one this many times the first.")

    @field_validator("warmup")
    @classmethod
    def _whole_steps(cls, value: float) -> float:
        if value >= 1 and value != int(value):
            raise ValueError("warmup is a whole number of steps, or a ratio below 1")
        return value


# -- settings -----------------------------------------------------------------------------------------
def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A TOML (``.toml``) or JSON file of settings; keys may use dashes like the flags."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({type(exc).__name__})") from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: invalid JSON ({exc.msg} at line {exc.lineno}; use .toml for TOML)"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table/object of settings")
    return {str(key).replace("-", "_"): value for key, value in data.items()}


def build_settings(
    config: str | os.PathLike[str] | None = None,
    overrides: dict[str, Any] | None = None,
    preset: str | None = None,
) -> TrainingSettings:
    """Defaults < ``preset`` < ``config`` file < ``overrides`` (``None`` values are ignored)."""
    if preset is not None and preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    values: dict[str, Any] = dict(PRESETS.get(preset or "paper", {}))
    where = "settings"
    if config is not None:
        values.update(read_config_file(config))
        where = str(config)
    _validate(values, where)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return _validate(values, "flags")


def _validate(values: dict[str, Any], where: str) -> TrainingSettings:
    try:
        return TrainingSettings.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "?"
        if err["type"] == "extra_forbidden":
            known = ", ".join(TrainingSettings.model_fields)
            raise ConfigError(f"{where}: unknown setting {key!r} (known: {known})") from None
        message = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{where}: {key}: {message} (got {err.get('input')!r})") from None


# -- divergence --------------------------------------------------------------------------------------------
def _trainer_callback_base() -> type:
    from transformers import TrainerCallback

    return TrainerCallback


class DivergenceGuard(_trainer_callback_base()):  # type: ignore[misc]
    """Stops training on a NaN/inf or exploding loss, before a checkpoint of bad weights is saved.

    The loss logged at step N is computed with the weights after step N-1, so a checkpoint at step S
    is proven good only once step S+1 logged a healthy loss: ``good_before`` is that bound.
    """

    def __init__(self, max_loss: float = 1e4, factor: float = 100.0) -> None:
        self.max_loss = max_loss
        self.factor = factor
        self.first_loss: float | None = None
        self.last_loss: float | None = None
        self.good_before = 0
        self.diverged: dict[str, Any] | None = None

    def check(self, loss: float, grad_norm: float | None) -> str | None:
        """Why this loss means divergence, or None."""
        if not math.isfinite(loss):
            return f"loss is {loss}"
        if loss > self.max_loss:
            return f"loss {loss:.4g} exceeds {self.max_loss:g}"
        if self.first_loss is not None and self.first_loss > 0 and loss > self.factor * self.first_loss:
            return f"loss {loss:.4g} is over {self.factor:g}x the first logged loss {self.first_loss:.4g}"
        if grad_norm is not None and not math.isfinite(grad_norm):
            return f"gradient norm is {grad_norm}"
        return None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.good_before = max(self.good_before, state.global_step + 1)  # a resumed-from checkpoint was good

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if not logs or "loss" not in logs or self.diverged is not None:
            return
        loss = float(logs["loss"])
        grad = logs.get("grad_norm")
        reason = self.check(loss, None if grad is None else float(grad))
        if reason is None:
            self.first_loss = loss if self.first_loss is None else self.first_loss
            self.last_loss = loss
            self.good_before = state.global_step
            return
        if math.isfinite(loss) and grad is not None and not math.isfinite(float(grad)):
            self.good_before = state.global_step  # the loss was fine: the weights before this step were too
        self.diverged = {"step": state.global_step, "loss": loss, "reason": reason}
        control.should_training_stop = True
        control.should_save = False


class ResumeLearningRate(_trainer_callback_base()):  # type: ignore[misc]
    """On resume, apply the requested peak lr: the checkpoint's scheduler would otherwise restore the old one.

    Lowering ``--lr`` is the usual answer to a divergence, so it must take effect on ``--resume``.
    """

    def __init__(self, lr: float) -> None:
        self.lr = lr

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        scheduler, optimizer = kwargs.get("lr_scheduler"), kwargs.get("optimizer")
        if state.global_step == 0 or scheduler is None or optimizer is None:
            return
        lambdas = getattr(scheduler, "lr_lambdas", None)
        if not lambdas or all(math.isclose(b, self.lr) for b in scheduler.base_lrs):
            return
        log.info("resuming with peak lr %g instead of the checkpoint's %g", self.lr, scheduler.base_lrs[0])
        scheduler.base_lrs = [self.lr] * len(scheduler.base_lrs)
        for group, factor in zip(optimizer.param_groups, lambdas, strict=False):
            group["initial_lr"] = self.lr
            group["lr"] = self.lr * factor(scheduler.last_epoch)
        scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]  # what the Trainer logs


class LogProgress(_trainer_callback_base()):  # type: ignore[misc]
    """Logs each step's loss, grad norm and lr through :mod:`logging` (the library never prints)."""

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if logs and "loss" in logs:
            log.info(
                "step %d/%d loss %.4f grad_norm %s lr %.3g",
                state.global_step,
                state.max_steps,
                logs["loss"],
                _fmt(logs.get("grad_norm")),
                logs.get("learning_rate", float("nan")),
            )


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3g}"


# -- checkpoints ------------------------------------------------------------------------------------------
def work_dir(registry: Registry, name: str) -> Path:
    """Where checkpoints of ``name`` go by default: ``<registry>/.train/<name>``."""
    return registry.root / WORK_DIR / name


def checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """(step, path) of every ``checkpoint-N`` under ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    found = [
        (int(m.group(1)), p) for p in directory.iterdir() if p.is_dir() and (m := CHECKPOINT_RE.match(p.name))
    ]
    return sorted(found)


def weights_finite(checkpoint: Path) -> bool:
    """Whether every tensor of the checkpoint's adapter is finite."""
    from safetensors.torch import load_file

    files = list(checkpoint.glob("*.safetensors"))
    if not files:
        return False
    return all(bool(t.isfinite().all()) for f in files for t in load_file(str(f)).values())


def quarantine_bad(directory: Path, good_before: int) -> Path | None:
    """Rename checkpoints not proven good to ``diverged-checkpoint-N``; return the last good one."""
    good: Path | None = None
    for step, path in checkpoints(directory):
        if step < good_before and weights_finite(path):
            good = path
            continue
        target = path.with_name(f"diverged-{path.name}")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(path, target)
    return good


def latest_checkpoint(directory: Path) -> Path:
    """The checkpoint ``resume`` continues from (diverged ones were renamed away)."""
    found = checkpoints(directory)
    if not found:
        raise NotFoundError(f"no checkpoint to resume in {directory} (train without --resume first)")
    return found[-1][1]


def lock_path(registry: Registry, name: str) -> Path:
    """The per-expert training lock (outside the work dir, so ``--output`` cannot dodge it)."""
    return registry.root / WORK_DIR / f"{name}.lock"


@contextmanager
def expert_lock(registry: Registry, name: str) -> Iterator[None]:
    """Refuse, rather than interleave, a second training of the same expert."""
    path = lock_path(registry, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RegistryBusyError(
            f"expert {name!r} is already being trained in {registry.root} (lock {path}); wait for it to finish"
        ) from None
    try:
        yield
    finally:
        lock.release()


# -- the run --------------------------------------------------------------------------------------------
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


def resolve_lora(settings: TrainingSettings, spec: ExpertSpec | None) -> dict[str, Any]:
    """Rank/alpha/dropout/targets: flags, else the spec, else defaults (alpha follows the rank)."""
    from .specs import LLAMA_TARGETS

    rank = settings.rank or (spec.lora.rank if spec else DEFAULT_RANK)
    spec_alpha = spec.lora.alpha if spec and settings.rank is None else None
    return {
        "rank": rank,
        "alpha": float(settings.alpha or spec_alpha or rank),
        "dropout": settings.dropout if settings.dropout is not None else (spec.lora.dropout if spec else 0.1),
        "target_modules": settings.target_modules
        or (spec.lora.target_modules if spec else list(LLAMA_TARGETS)),
    }


def _resolve_expert(name: str, settings: TrainingSettings) -> tuple[ExpertSpec | None, str | None]:
    try:
        check_name(name, "expert name")
    except ValueError as exc:
        raise MoleError(str(exc)) from None
    catalogue = plugins.catalogue()
    spec = catalogue.experts.get(name)
    if spec is None and settings.dataset is None and settings.data is None:
        known = ", ".join(sorted(catalogue.experts)) or "none"
        raise NotFoundError(
            f"no expert spec {name!r} (known: {known}); give a dataset or a data file to train it"
        )
    return spec, settings.dataset or (spec.dataset if spec else None)


def planned_steps(examples: int, settings: TrainingSettings) -> int:
    """Optimizer steps the run will take (the Trainer's own arithmetic)."""
    if settings.max_steps:
        return settings.max_steps
    batches = math.ceil(examples / settings.batch_size)
    per_epoch = max(batches // settings.grad_accum + int(batches % settings.grad_accum > 0), 1)
    return math.ceil(settings.epochs * per_epoch)


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
    resolved plan (settings, LoRA shape, data, steps) before the first step.
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
        plan = {
            **settings.model_dump(mode="json"),
            **{f"lora_{k}": v for k, v in lora.items()},
            "expert": name,
            "prompt_template": template,
            "dataset": data.name,
            "source": data.source,
            "examples": len(features),
            "planned_steps": steps,
            "save_every": settings.save_every or _auto_save_every(steps),
            "work_dir": str(work),
            "resume_from": resume_from,
        }
        if len(features) < settings.batch_size * settings.grad_accum:
            log.warning(
                "only %d examples for an effective batch of %d",
                len(features),
                settings.batch_size * settings.grad_accum,
            )
        if on_start is not None:
            on_start(plan)
        guard = DivergenceGuard(settings.max_loss, settings.loss_factor)
        trainer = _build_trainer(
            manifest,
            tokenizer,
            features,
            settings,
            lora,
            work,
            plan["save_every"],
            [*callbacks, LogProgress(), ResumeLearningRate(settings.lr), guard],
        )
        started = time.monotonic()
        trainer.train(resume_from_checkpoint=resume_from)
        seconds = time.monotonic() - started
        if guard.diverged is not None:
            raise _diverged(work, guard)
        entry = _register(registry, name, trainer, spec, task, work, data, plan, guard, seconds, template)
        _finish(work, keep_adapter=output is not None)
    state = trainer.state
    return TrainResult(
        name=name,
        entry=entry,
        work_dir=str(work),
        dataset=data.name,
        source=data.source,
        examples=len(features),
        steps=state.global_step,
        epochs=float(state.epoch or 0),
        first_loss=guard.first_loss,
        final_loss=guard.last_loss,
        seconds=round(seconds, 2),
        resumed_from=resume_from,
        settings=plan,
    )


def _auto_save_every(steps: int) -> int:
    return max(1, min(200, math.ceil(steps / 5)))


def _clear_checkpoints(work: Path) -> None:
    old = checkpoints(work)
    if old:
        log.warning(
            "starting afresh: removing %d old checkpoint(s) in %s (resume to continue them)", len(old), work
        )
    for _, path in old:
        shutil.rmtree(path, ignore_errors=True)


def _build_trainer(
    manifest: Any,
    tokenizer: Any,
    features: list[dict[str, list[int]]],
    settings: TrainingSettings,
    lora: dict[str, Any],
    work: Path,
    save_every: int,
    callbacks: list[Any],
) -> Any:
    """A Trainer on a fresh LoRA over the fp32 base; Trainer's own printing callbacks removed."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import PrinterCallback, ProgressCallback, Trainer, TrainingArguments, set_seed

    set_seed(settings.seed)
    base = basemodel.load_model(manifest.base, dtype="float32")
    config = LoraConfig(
        r=lora["rank"],
        lora_alpha=lora["alpha"],
        lora_dropout=lora["dropout"],
        target_modules=lora["target_modules"],
        task_type="CAUSAL_LM",
    )
    try:
        model = get_peft_model(base, config)
    except ValueError as exc:
        raise MoleError(f"cannot put LoRA on {manifest.base.id}: {str(exc).splitlines()[0]}") from None
    args = TrainingArguments(
        output_dir=str(work),
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
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=features,
        data_collator=CompletionCollator(pad_id(tokenizer)),
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    for noisy in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(noisy)
    return trainer


def _diverged(work: Path, guard: DivergenceGuard) -> TrainingDivergedError:
    info = guard.diverged or {}
    good = quarantine_bad(work, guard.good_before)
    head = f"training diverged at step {info.get('step')}: {info.get('reason')}"
    if good is None:
        return TrainingDivergedError(f"{head}; no good checkpoint was saved before it (try a lower --lr)")
    return TrainingDivergedError(
        f"{head}; last good checkpoint: {good} (continue with --resume and a lower --lr)"
    )


def _register(
    registry: Registry,
    name: str,
    trainer: Any,
    spec: ExpertSpec | None,
    task: str | None,
    work: Path,
    data: Any,
    plan: dict[str, Any],
    guard: DivergenceGuard,
    seconds: float,
    template: str,
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
        examples=plan["examples"],
        steps=state.global_step,
        epochs=float(state.epoch or 0),
        learning_rate=plan["lr"],
        final_loss=guard.last_loss,
        seconds=round(seconds, 2),
        settings={k: v for k, v in plan.items() if v is not None and k != "work_dir"},
    )
    return registry.add_expert(
        name,
        adapter_dir,
        replace=True,
        plugin=spec.plugin if spec else None,
        task=task or (spec.task if spec else f"trained on {data.name}"),
        examples=list(spec.routing.examples[:32]) if spec else None,
        prompt_template=template,
        training=record,
    )


def _finish(work: Path, keep_adapter: bool) -> None:
    """Drop checkpoints once the adapter is registered; keep the adapter copy only in a chosen --output."""
    for _, path in checkpoints(work):
        shutil.rmtree(path, ignore_errors=True)
    if not keep_adapter:
        shutil.rmtree(work / "adapter", ignore_errors=True)
