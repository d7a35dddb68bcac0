"""Checkpoints of a run and the per-expert training lock.

Checkpoints go to a work directory (``<registry>/.train/<name>``) every few steps. A NaN/inf or
exploding loss stops training and keeps the last checkpoint whose weights were proven good (the
paper's pruning runs died this way); ``resume=True`` continues from the latest good checkpoint. One
expert trains in one process at a time (a non-blocking per-expert file lock).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from ..errors import MoleError, NotFoundError, RegistryBusyError
from ..registry import Registry
from .callbacks import DivergenceGuard

log = logging.getLogger("mole_core.training")

WORK_DIR = ".train"
CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


class TrainingDivergedError(MoleError):
    """The loss went NaN/inf or exploded; the message names the last good checkpoint."""

    exit_code = 3


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
    except Timeout as exc:
        raise RegistryBusyError(
            f"expert {name!r} is already being trained in {registry.root} (lock {path}); wait for it to finish"
        ) from exc
    try:
        yield
    finally:
        lock.release()


def _clear_checkpoints(work: Path) -> None:
    old = checkpoints(work)
    if old:
        log.warning(
            "starting afresh: removing %d old checkpoint(s) in %s (resume to continue them)", len(old), work
        )
    for _, path in old:
        shutil.rmtree(path, ignore_errors=True)


def _diverged(work: Path, guard: DivergenceGuard) -> TrainingDivergedError:
    info = guard.diverged or {}
    good = quarantine_bad(work, guard.good_before)
    head = f"training diverged at step {info.get('step')}: {info.get('reason')}"
    if good is None:
        return TrainingDivergedError(f"{head}; no good checkpoint was saved before it (try a lower --lr)")
    return TrainingDivergedError(
        f"{head}; last good checkpoint: {good} (continue with --resume and a lower --lr)"
    )


def _finish(work: Path, keep_adapter: bool) -> None:
    """Drop checkpoints once the adapter is registered; keep the adapter copy only in a chosen --output."""
    for _, path in checkpoints(work):
        shutil.rmtree(path, ignore_errors=True)
    if not keep_adapter:
        shutil.rmtree(work / "adapter", ignore_errors=True)
