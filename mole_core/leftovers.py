"""What interrupted writes leave behind, found by name: only the patterns MoLE itself creates.

Every write stages its files under a hidden name and renames them into place, so a kill leaves hidden
directories (``experts/.NAME.<hex>.tmp``), a retired old version (``.NAME.<hex>.old``), an unlisted
version directory, a half-written manifest (``.mole.toml.<random>.tmp``), a push snapshot
(``.push.<hex>.tmp``), a ``mole pull`` download (``.pull.<hex>.tmp``), or a ``pull-registry`` staging
directory beside the registry. None of them is ever listed in the manifest.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .manifest import EXPERTS_DIR, MANIFEST_NAME, ROUTERS_DIR

#: Leftovers younger than this may belong to a write still in progress (staging happens outside the lock).
LEFTOVER_MIN_AGE_S = 3600

_HIDDEN = re.compile(r"^\.(?P<name>[^/]+?)\.(?:[0-9a-f]{12}\.(?P<kind>tmp|old)|(?P<legacy>removed))$")
_KINDS = {"tmp": "staging", "old": "replaced"}
_MANIFEST_TMP = re.compile(rf"^\.{re.escape(MANIFEST_NAME)}\.[a-z0-9_]{{8}}\.tmp$")  # tempfile.mkstemp's
_TRANSFER_TMP = {"push": "push", "pull": "download"}  # .push.<hex>.tmp, .pull.<hex>.tmp at the root


@dataclass(frozen=True)
class Leftover:
    """A directory (or file) an interrupted write left behind: never listed, so harmless but for its space."""

    path: Path
    kind: str  # staging | replaced | removed | unlisted | push | download
    bytes: int
    age_s: float

    def __str__(self) -> str:
        return f"{self.path} ({self.kind}, {self.bytes / 1e6:.1f} MB, {self.age_s / 60:.0f} min old)"


def is_leftover_name(name: str) -> bool:
    """Whether ``name`` (at a registry's top level) is one MoLE's interrupted writes leave."""
    match = _HIDDEN.match(name)
    return bool(_MANIFEST_TMP.match(name) or (match and match.group("name") in _TRANSFER_TMP))


def hidden_kind(name: str) -> str | None:
    """The kind of a hidden staging/retired entry MoLE made, from its name; None for anything else."""
    match = _HIDDEN.match(name)
    if match is None:
        return None
    return "removed" if match.group("legacy") else _KINDS[match.group("kind")]


def _measure(path: Path, kind: str, now: float) -> Leftover:
    """Size, and age from the newest file inside (a download in progress keeps touching its files)."""
    files = [path] if not path.is_dir() else [path, *path.rglob("*")]
    size, newest = 0, 0.0
    for f in files:
        try:
            st = f.lstat()
        except OSError:
            continue
        newest = max(newest, st.st_mtime)
        if f.is_file() and not f.is_symlink():
            size += st.st_size
    return Leftover(path, kind, size, max(0.0, now - newest))


def _children(parent: Path) -> Iterator[Path]:
    try:
        yield from sorted(p for p in parent.iterdir() if not p.is_symlink())
    except OSError:
        return


def find(root: Path, listed: Iterable[str]) -> list[Leftover]:
    """Leftovers of the registry at ``root`` whose manifest lists the entry directories ``listed``."""
    now = time.time()
    keep = {(root / rel).resolve() for rel in listed}
    found: list[Leftover] = []
    for parent in (root / EXPERTS_DIR, root / ROUTERS_DIR):
        for child in _children(parent):
            if child.name.startswith("."):
                kind = hidden_kind(child.name) if child.is_dir() else None
            else:
                kind = None if not child.is_dir() or child.resolve() in keep else "unlisted"
            if kind is not None:
                found.append(_measure(child, kind, now))
    for child in _children(root):
        if _MANIFEST_TMP.match(child.name) and child.is_file():
            found.append(_measure(child, "staging", now))
        elif (match := _HIDDEN.match(child.name)) and match.group("name") in _TRANSFER_TMP and child.is_dir():
            found.append(_measure(child, _TRANSFER_TMP[match.group("name")], now))
    name = root.resolve().name
    for child in _children(root.resolve().parent):  # a `pull-registry` into this directory, interrupted
        match = _HIDDEN.match(child.name)
        if match and match.group("name") == name and not match.group("legacy") and child.is_dir():
            found.append(_measure(child, _KINDS[match.group("kind")], now))
    return found
