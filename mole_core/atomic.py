"""Crash-safe writes: a reader sees the old file or the new one, never half of either.

Every file the user owns (manifest, adapters, routers) is written to a temporary sibling, flushed to
disk and renamed over the target; ``os.replace`` is atomic on POSIX and Windows within a directory.
A rewritten file keeps the target's permissions (a new one gets the umask's), so a registry shared by a
team stays readable by it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path


def fsync_dir(path: Path) -> None:
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


def _umask() -> int:
    """The process umask, read without changing it where the platform allows (threads may be writing)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # pragma: no cover - no /proc: the classic read-and-restore
    os.umask(mask)
    return mask  # pragma: no cover


def file_mode(target: Path) -> int:
    """The permissions a rewrite of ``target`` gets: its own if it exists, else what ``open`` would give."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, keeping ``path``'s permissions (or the umask's for a new file)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = file_mode(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)  # mkstemp's 0600 would lock a team out of a shared registry
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


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
        fsync_dir(Path(root))


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
    fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def retire(path: Path) -> Path | None:
    """Rename ``path`` (a directory or a link, never followed) to a hidden ``.NAME.*.old`` sibling that
    :func:`delete` can remove at leisure; None when there is nothing there. Renaming first means a crash
    mid-delete leaves a hidden leftover, never a half-deleted directory under a name that is in use."""
    if not os.path.lexists(path):
        return None
    old = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.old"
    os.replace(path, old)
    return old


def delete(path: Path | None) -> None:
    """Remove a retired directory (or link, without following it)."""
    if path is None:
        return
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)
