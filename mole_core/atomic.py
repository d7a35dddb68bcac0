"""Crash-safe writes: a reader sees the old file or the new one, never half of either.

Every file the user owns (manifest, adapters, routers) is written to a temporary sibling, flushed to
disk and renamed over the target; ``os.replace`` is atomic on POSIX and Windows within a directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def staging_dir(parent: Path, name: str) -> Path:
    """A fresh hidden directory next to where ``name`` will live, for building it before the rename."""
    parent.mkdir(parents=True, exist_ok=True)
    path = parent / f".{name}.{uuid.uuid4().hex[:12]}.tmp"
    path.mkdir()
    return path


def fsync_tree(path: Path) -> None:
    """Flush every file below ``path`` so a rename after it publishes complete contents."""
    for root, _dirs, files in os.walk(path):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(Path(root))


def publish_dir(staged: Path, target: Path) -> None:
    """Move a fully written ``staged`` directory to ``target``, replacing any old one.

    The old directory is first renamed aside, then removed, so ``target`` is never half-written.
    """
    fsync_tree(staged)
    old: Path | None = None
    if target.exists():
        old = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.old"
        os.replace(target, old)
    os.replace(staged, target)
    _fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
