"""``mole validate``: every entry's files against the manifest, as problems to list rather than errors.

An expert's directory must be its own (no link planted on the way), hold a PEFT adapter whose config
(bounded ranks and alphas) agrees with the manifest and with its tensors, and whose weights match the
sha256. A router's files must match their sha256s and its config stay within bounds
(:mod:`mole_core.routing.verify`), and it must route only to registered experts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .adapters import (
    ADAPTER_FILES,
    CONFIG_NAME,
    WEIGHTS_NAME,
    check_tensor_ranks,
    checksum_mismatch,
    read_adapter,
)
from .basemodel import same_base
from .errors import MoleError
from .manifest import BaseModelRef, ExpertEntry, Manifest, RouterEntry

if TYPE_CHECKING:
    from .registry import Registry


@dataclass(frozen=True)
class Problem:
    """One thing ``validate`` found wrong."""

    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}"


def validate_registry(registry: Registry) -> list[Problem]:
    manifest = registry.load()
    problems: list[Problem] = []
    for entry in manifest.experts:
        problems.extend(check_expert(registry, entry, manifest.base))
    if manifest.router is not None:
        problems.extend(check_router(registry, manifest.router, manifest))
    return problems


def check_expert(registry: Registry, entry: ExpertEntry, base: BaseModelRef) -> list[Problem]:
    subject = f"expert {entry.name}"
    try:
        directory = registry.expert_dir(entry)
    except MoleError as exc:
        return [Problem(subject, str(exc))]
    if not directory.is_dir():
        return [Problem(subject, f"directory {directory} is missing")]
    missing = [name for name in ADAPTER_FILES if not (directory / name).is_file()]
    if missing:
        return [Problem(subject, f"{directory} lacks {', '.join(missing)}")]
    try:
        info = read_adapter(directory)
    except MoleError as exc:
        return [Problem(subject, str(exc))]
    messages: list[str] = []
    if entry.sha256 is None:
        messages.append("no sha256 recorded")
    else:
        actual = checksum_mismatch(directory / WEIGHTS_NAME, entry.sha256)
        if actual:
            messages.append(f"checksum mismatch: manifest {entry.sha256[:12]}…, file {actual[:12]}…")
    if info.rank != entry.rank:
        messages.append(f"rank {entry.rank} in manifest, r={info.rank} in {CONFIG_NAME}")
    if info.alpha != entry.alpha:
        messages.append(f"alpha {entry.alpha:g} in manifest, {info.alpha:g} in {CONFIG_NAME}")
    if sorted(info.target_modules) != sorted(entry.target_modules):
        messages.append(f"target modules differ from {CONFIG_NAME}")
    try:
        check_tensor_ranks(directory, info)
    except MoleError as exc:
        messages.append(str(exc))
    if not same_base(entry.base_model, base):
        messages.append(f"made for base {entry.base_model!r}, registry base is {base.id!r}")
    return [Problem(subject, message) for message in messages]


def check_router(registry: Registry, entry: RouterEntry, manifest: Manifest) -> list[Problem]:
    from .routing.calibrate import BASE
    from .routing.verify import verify_router_files

    subject = f"router {entry.name}"
    problems: list[Problem] = []
    try:
        directory = registry.router_dir(entry)
        if not directory.is_dir():
            return [Problem(subject, f"directory {directory} is missing")]
        verify_router_files(directory, entry)
    except MoleError as exc:
        problems.append(Problem(subject, str(exc).removeprefix(f"{subject}: ")))
    unknown = [label for label in entry.labels if manifest.expert(label) is None and label != BASE]
    if unknown:
        problems.append(
            Problem(subject, f"routes to unregistered expert(s): {', '.join(unknown)} (retrain it)")
        )
    return problems
