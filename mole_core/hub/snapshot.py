"""Registry files as they are published: relative paths that stay inside, frozen snapshots, no pickles."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from .. import atomic
from ..adapters import CONFIG_NAME, WEIGHTS_NAME, is_pickle, pickle_weights
from ..errors import AdapterError, MoleError
from ..manifest import ExpertEntry, Manifest
from ..registry import Registry
from .cards import CARD_NAME


def _safe_relpath(path: str, what: str) -> PurePosixPath:
    """A registry-relative path that stays inside the registry (pushed and pulled manifests alike)."""
    rel = PurePosixPath(path.replace("\\", "/"))
    if not path or rel.is_absolute() or ".." in rel.parts or rel.parts[:1] in ((".",), ()) or ":" in path:
        raise MoleError(f"{what} path {path!r} must be relative and inside the registry directory")
    return rel


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)  # registry files are replaced by rename, never rewritten: a link is a snapshot
    except OSError:
        shutil.copy2(src, dst)


@contextmanager
def _snapshot(registry: Registry, files: list[str]) -> Iterator[Path]:
    """Freeze ``files`` (registry-relative) in a hidden directory, so a concurrent change cannot mix into a push."""
    staged = atomic.staging_dir(registry.root, "push")
    try:
        for rel in files:
            _link_or_copy(registry.root / rel, staged / rel)
        yield staged
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _expert_files(registry: Registry, entry: ExpertEntry) -> list[str]:
    rel = _safe_relpath(entry.path, f"expert {entry.name!r}")
    directory = registry.root / rel
    if not (directory / WEIGHTS_NAME).is_file():
        pickles = pickle_weights(lambda n: (directory / n).is_file())
        if pickles:
            raise AdapterError(
                f"expert {entry.name!r} has only pickle weights ({pickles[0]}); MoLE publishes safetensors only"
            )
        raise AdapterError(
            f"expert {entry.name!r}: {directory / WEIGHTS_NAME} is missing (run `mole validate`)"
        )
    if not (directory / CONFIG_NAME).is_file():
        raise AdapterError(
            f"expert {entry.name!r}: {directory / CONFIG_NAME} is missing (run `mole validate`)"
        )
    names = [CONFIG_NAME, WEIGHTS_NAME] + ([CARD_NAME] if (directory / CARD_NAME).is_file() else [])
    return [str(rel / n) for n in names]


def _router_files(registry: Registry, manifest: Manifest) -> list[str]:
    router = manifest.router
    if router is None:
        return []
    rel = _safe_relpath(router.path, f"router {router.name!r}")
    directory = registry.root / rel
    if not directory.is_dir():
        raise MoleError(f"router directory {directory} is missing (run `mole validate`)")
    out = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        sub = path.relative_to(directory)
        if any(part.startswith(".") for part in sub.parts):
            continue
        if is_pickle(path):
            raise AdapterError(f"router file {path} is a pickle; MoLE publishes safetensors only")
        out.append(str(rel / PurePosixPath(*sub.parts)))
    return out
