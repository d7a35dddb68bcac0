"""Training settings and the typed plan a run follows.

Defaults are the MoLE paper's protocol (lr 1e-6, batch 2 x 8 accumulation, grad norm 0.5, 100
warmup steps, cosine, weight decay 0.01, fp32, 512 tokens, 2 epochs, alpha = rank, dropout 0.1).
That learning rate barely moves a model in a short run, so a ``quick`` preset (lr 2e-4, 25 steps,
batch 4, 256 tokens) exists for demos. Settings come from, in rising precedence: the defaults, a
preset, a config file (TOML or JSON), explicit overrides (CLI flags).
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import MoleError
from ..specs import ExpertSpec, PromptTemplate

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


class TrainingSettings(BaseModel):
    """Every training knob; field names are the config-file keys and (with dashes) the CLI flags."""

    # Every number finite and bounded far above any real run: `--epochs inf` or `--batch-size 1e20` is a
    # one-line refusal here, not a crash deep in the trainer after files were touched.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    lr: float = Field(default=1e-6, gt=0, le=10)
    batch_size: int = Field(default=2, ge=1, le=65536)
    grad_accum: int = Field(default=8, ge=1, le=65536)
    epochs: float = Field(default=2.0, gt=0, le=100_000)
    max_steps: int | None = Field(default=None, ge=1, le=10**9, description="Overrides epochs when set.")
    max_length: int = Field(default=512, ge=8, le=1 << 20)
    warmup: float = Field(
        default=100, ge=0, le=10**9, description="Steps, or a ratio of all steps when below 1."
    )
    scheduler: str = "cosine"
    weight_decay: float = Field(default=0.01, ge=0)
    max_grad_norm: float = Field(default=0.5, gt=0)
    rank: int | None = Field(default=None, ge=1, le=4096, description="Default: the expert spec's rank.")
    alpha: float | None = Field(default=None, gt=0, description="Default: the rank.")
    dropout: float | None = Field(default=None, ge=0, lt=1, description="Default: the spec's (0.1).")
    target_modules: list[str] | None = Field(default=None, min_length=1)
    limit: int | None = Field(
        default=None, ge=1, le=10**12, description="Train on at most this many examples."
    )
    dataset: str | None = Field(default=None, description="Dataset plugin name (default: the spec's).")
    prompt_template: PromptTemplate | None = Field(
        default=None, description="How prompts are framed, with {query} [the spec's, else {query}]."
    )
    data: Path | None = Field(default=None, description="Local JSONL/text file; wins over dataset.")
    offline: bool | None = Field(default=None, description="None: offline if HF_HUB_OFFLINE or no Hub.")
    seed: int = Field(default=42, ge=0, le=2**32 - 1, description="0 to 2**32 - 1 (numpy's range).")
    save_every: int | None = Field(
        default=None, ge=1, le=10**9, description="Checkpoint interval; default ~1/5 of the run."
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
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({type(exc).__name__})") from exc
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: invalid JSON ({exc.msg} at line {exc.lineno}; use .toml for TOML)"
        ) from exc
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
            raise ConfigError(f"{where}: unknown setting {key!r} (known: {known})") from exc
        message = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{where}: {key}: {message} (got {err.get('input')!r})") from exc


class LoraShape(BaseModel):
    """The LoRA a run trains: flags, else the expert spec, else defaults (alpha follows the rank)."""

    rank: int
    alpha: float
    dropout: float
    target_modules: list[str]


def resolve_lora(settings: TrainingSettings, spec: ExpertSpec | None) -> LoraShape:
    """Rank/alpha/dropout/targets: flags, else the spec, else defaults (alpha follows the rank)."""
    from ..specs import LLAMA_TARGETS

    rank = settings.rank or (spec.lora.rank if spec else DEFAULT_RANK)
    spec_alpha = spec.lora.alpha if spec and settings.rank is None else None
    return LoraShape(
        rank=rank,
        alpha=float(settings.alpha or spec_alpha or rank),
        dropout=settings.dropout if settings.dropout is not None else (spec.lora.dropout if spec else 0.1),
        target_modules=settings.target_modules or (spec.lora.target_modules if spec else list(LLAMA_TARGETS)),
    )


def planned_steps(examples: int, settings: TrainingSettings) -> int:
    """Optimizer steps the run will take (the Trainer's own arithmetic)."""
    if settings.max_steps:
        return settings.max_steps
    batches = math.ceil(examples / settings.batch_size)
    per_epoch = max(batches // settings.grad_accum + int(batches % settings.grad_accum > 0), 1)
    return math.ceil(settings.epochs * per_epoch)


def auto_save_every(steps: int) -> int:
    """The default checkpoint interval: about a fifth of the run, at most 200 steps."""
    return max(1, min(200, math.ceil(steps / 5)))


class TrainingPlan(BaseModel):
    """Everything a run was resolved to before its first step: settings, LoRA shape, data and steps."""

    settings: TrainingSettings
    lora: LoraShape
    expert: str
    prompt_template: str
    dataset: str
    source: str
    examples: int
    planned_steps: int
    save_every: int
    work_dir: str
    resume_from: str | None = None

    def flat(self) -> dict[str, Any]:
        """One flat JSON-able dict (settings keys, ``lora_*``, the rest): what ``on_start`` and the record get."""
        return {
            **self.settings.model_dump(mode="json"),
            **{f"lora_{k}": v for k, v in self.lora.model_dump().items()},
            **self.model_dump(mode="json", exclude={"settings", "lora"}),
        }
