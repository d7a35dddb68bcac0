"""Where ``pull-registry`` may install: a new or empty directory, or (with ``--force``) an existing registry
holding nothing but registry content. ``--force`` must never delete a user's other files, nor the
directory the user is standing in."""

from __future__ import annotations

from pathlib import Path

from ..errors import MoleError
from ..manifest import EXPERTS_DIR, MANIFEST_NAME, ROUTERS_DIR
from ..registry import LOCK_NAME


def _registry_state(directory: Path, force: bool) -> None:
    """Where a registry may be installed: a new or empty directory, or (with ``force``) an existing
    registry holding nothing but registry content. Never the current directory or one above it."""
    if not directory.exists():
        return
    if not directory.is_dir():
        raise MoleError(f"{directory} exists and is not a directory")
    here = Path.cwd().resolve()
    if here.is_relative_to(directory.resolve()):
        raise MoleError(f"{directory} is the current directory (or holds it): choose another directory")
    if (directory / MANIFEST_NAME).is_file():
        if not force:
            raise MoleError(f"{directory} already holds a registry (pass --force to replace it)")
        foreign = sorted(p.name for p in directory.iterdir() if not _registry_content(p.name))
        if foreign:
            raise MoleError(
                f"{directory} holds files that are not part of a registry ({', '.join(foreign[:3])}): "
                f"--force replaces only a registry; move them or choose another directory"
            )
        return
    if any(directory.iterdir()):
        raise MoleError(f"{directory} exists and is not empty (choose a new directory)")


def _registry_content(name: str) -> bool:
    """What a registry directory may hold: its manifest, lock, entries, and MoLE's own leftovers."""
    from ..leftovers import is_leftover_name

    return name in {MANIFEST_NAME, LOCK_NAME, EXPERTS_DIR, ROUTERS_DIR} or is_leftover_name(name)
