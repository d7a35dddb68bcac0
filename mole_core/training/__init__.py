"""Training one LoRA expert with the transformers ``Trainer`` and registering the result.

:mod:`.settings` holds the knobs and the typed plan a run follows, :mod:`.callbacks` the divergence
guard and progress logging, :mod:`.checkpoints` the work directory and per-expert lock, :mod:`.run`
the run itself.
"""

from __future__ import annotations

from .callbacks import DivergenceGuard, LogProgress, ResumeLearningRate
from .checkpoints import (
    CHECKPOINT_RE,
    WORK_DIR,
    TrainingDivergedError,
    checkpoints,
    expert_lock,
    latest_checkpoint,
    lock_path,
    quarantine_bad,
    weights_finite,
    work_dir,
)
from .run import TrainResult, train_expert
from .settings import (
    DEFAULT_RANK,
    PRESETS,
    ConfigError,
    LoraShape,
    TrainingPlan,
    TrainingSettings,
    build_settings,
    planned_steps,
    read_config_file,
    resolve_lora,
)

__all__ = [
    "CHECKPOINT_RE",
    "DEFAULT_RANK",
    "PRESETS",
    "WORK_DIR",
    "ConfigError",
    "DivergenceGuard",
    "LogProgress",
    "LoraShape",
    "ResumeLearningRate",
    "TrainResult",
    "TrainingDivergedError",
    "TrainingPlan",
    "TrainingSettings",
    "build_settings",
    "checkpoints",
    "expert_lock",
    "latest_checkpoint",
    "lock_path",
    "planned_steps",
    "quarantine_bad",
    "read_config_file",
    "resolve_lora",
    "train_expert",
    "weights_finite",
    "work_dir",
]
