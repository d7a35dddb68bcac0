"""What an adapter goes through before the registry records it: checks, then a staged copy.

:func:`stage_expert` reads and checks one adapter (config, rank/alpha the caller expects, base model by
name and by tensor shapes), copies it into a staging directory next to its final place and computes
its sha256; :meth:`~mole_core.registry.Registry.add_experts` then renames every staged directory in and
writes the manifest once, under one lock.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import atomic
from .adapters import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    AdapterInfo,
    check_shapes,
    check_tensor_ranks,
    convert_pickle,
    read_adapter,
    sha256_file,
    weights_path,
)
from .basemodel import mismatch_hint, same_base
from .errors import AdapterError, MoleError
from .manifest import (
    EXPERTS_DIR,
    BaseModelRef,
    ExpertEntry,
    HubLocation,
    Manifest,
    TrainingRecord,
    entry_path,
    utcnow,
)
from .specs import DEFAULT_TEMPLATE, check_prompt_template, require_name


@dataclass(frozen=True)
class NewExpert:
    """One adapter for :meth:`Registry.add_experts`: the arguments of :meth:`Registry.add_expert`."""

    name: str
    adapter: str | os.PathLike[str]
    task: str | None = None
    rank: int | None = None
    alpha: float | None = None
    plugin: str | None = None
    examples: Sequence[str] | None = None
    prompt_template: str | None = None
    hub: HubLocation | None = None
    training: TrainingRecord | None = None
    expected_sha256: str | None = None
    allow_pickle: bool = False
    allow_base_mismatch: bool = False


def check_new_names(names: Sequence[str], manifest: Manifest, replace: bool) -> None:
    """Valid, distinct, and (unless replacing) not registered yet; the first problem, in one line."""
    registered = set(manifest.names())
    seen: set[str] = set()
    for name in names:
        require_name(name, "expert name")
        if name in seen:
            raise MoleError(f"expert {name!r} is given twice")
        seen.add(name)
        if name in registered and not replace:
            raise MoleError(f"expert {name!r} is already registered (remove it first, or replace it)")


def stage_expert(
    root: Path, item: NewExpert, base: BaseModelRef, base_config: dict[str, Any]
) -> tuple[Path, ExpertEntry]:
    """Check one adapter and copy it into a staging directory; its entry, not yet recorded."""
    try:
        template = check_prompt_template(item.prompt_template or DEFAULT_TEMPLATE)
    except ValueError as exc:
        raise MoleError(str(exc)) from exc
    info = read_adapter(item.adapter, allow_pickle=item.allow_pickle)
    check_against(
        info,
        base,
        rank=item.rank,
        alpha=item.alpha,
        base_config=base_config,
        by_name=not item.allow_base_mismatch,
    )
    staged = atomic.staging_dir(root / "experts", item.name)
    try:
        source_weights = weights_path(info.path)
        shutil.copy2(info.path / CONFIG_NAME, staged / CONFIG_NAME)
        if source_weights.name == WEIGHTS_NAME:
            shutil.copy2(source_weights, staged / WEIGHTS_NAME)
        else:  # an opted-in pickle is converted once, so nothing downstream ever unpickles
            convert_pickle(source_weights, staged / WEIGHTS_NAME)
        sha = sha256_file(staged / WEIGHTS_NAME)
        if item.expected_sha256 is not None and sha != item.expected_sha256:
            raise AdapterError(
                f"checksum mismatch for {item.name!r}: expected {item.expected_sha256}, got {sha} "
                f"(the file is corrupt or was tampered with)"
            )
        check_tensor_ranks(staged, info)
        now = utcnow()
        entry = ExpertEntry(
            name=item.name,
            task=item.task or "",
            rank=info.rank,
            alpha=info.alpha,
            target_modules=info.target_modules,
            base_model=base.id,
            plugin=item.plugin,
            path=entry_path(EXPERTS_DIR, item.name),
            hub=item.hub,
            sha256=sha,
            examples=[e for e in (item.examples or []) if e.strip()],
            prompt_template=template,
            training=item.training,
            created_at=now,
            updated_at=now,
        )
        write_card(staged, entry)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return staged, entry


def write_card(directory: Path, entry: ExpertEntry) -> None:
    """MoLE's model card as the expert folder's README.md (not PEFT's template): what `mole push`
    uploads, so publishing the folder with any Hub tool gives a proper card."""
    from .hub.cards import CARD_NAME, expert_card

    (directory / CARD_NAME).write_text(expert_card(entry), encoding="utf-8")


def check_against(
    info: AdapterInfo,
    base: BaseModelRef,
    *,
    rank: int | None,
    alpha: float | None,
    base_config: dict[str, Any] | None,
    by_name: bool = True,
) -> None:
    """Refuse an adapter that contradicts the rank/alpha the caller expects or was made for another base."""
    if rank is not None and rank != info.rank:
        raise AdapterError(f"--rank {rank} contradicts {info.path / CONFIG_NAME}, which says r={info.rank}")
    if alpha is not None and float(alpha) != info.alpha:
        raise AdapterError(
            f"--alpha {alpha} contradicts {info.path / CONFIG_NAME}, which says lora_alpha={info.alpha:g}"
        )
    if by_name and not same_base(info.base_model, base):
        raise AdapterError(mismatch_hint(str(info.path), info.base_model or "", base))
    if base_config is None:
        from .basemodel import local_config

        base_config = local_config(base)
    if base_config is not None and (info.path / WEIGHTS_NAME).is_file():
        check_shapes(info.path, base_config)
