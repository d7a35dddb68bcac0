"""SIGKILL a ``mole`` command at each syscall that changes the registry, with ``strace``'s fault injection.

A reference run under ``strace -f -y`` lists, per syscall, the invocations of the main process that touch
the registry (a rename, unlink, mkdir or rmdir naming a path inside it; an ``openat`` creating or writing
a file there; a ``write``/``fsync`` on a descriptor there). Then the command is re-run once per point
with ``strace -e inject=SYSCALL:signal=KILL:when=N``, from the same starting state, and the caller
checks what the kill left. Points that cannot change what a kill leaves are skipped: syscalls touching
nothing of the registry (imports, logging), failed ones, the lock file, and all but the first and last
of each run of syscalls that only touch hidden staging files (a kill anywhere in such a run leaves the
same kind of state: an unlisted hidden leftover).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

STRACE = shutil.which("strace")
PATH_SYSCALLS = ("rename", "renameat", "renameat2", "unlink", "unlinkat", "mkdir", "mkdirat", "rmdir")
FD_SYSCALLS = ("write", "pwrite64", "fsync", "fdatasync", "sendfile", "copy_file_range")
SYSCALLS = (*PATH_SYSCALLS, *FD_SYSCALLS, "openat")
_LINE = re.compile(r"^(?P<pid>\d+)\s+(?P<name>\w+)\((?P<args>.*)")


@dataclass(frozen=True)
class KillPoint:
    syscall: str
    when: int  # the N-th invocation of ``syscall`` by the main process
    detail: str

    def __str__(self) -> str:
        return f"{self.syscall}#{self.when} {self.detail[:120]}"


_HIDDEN_PATH = re.compile(r"/\.[^/\"<>,]+\.(?:tmp|old)\b")
_PATHS = re.compile(r"(?:\"|<)(/[^\"<>]*)")


def _staging_only(args: str, roots: tuple[str, ...]) -> bool:
    paths = [p for p in _PATHS.findall(args) if any(p.startswith(root) for root in roots)]
    return bool(paths) and all(_HIDDEN_PATH.search(p) for p in paths)


def _touches(name: str, args: str, roots: tuple[str, ...]) -> bool:
    if re.search(r"\)\s+= -1 ", args) or ".mole.lock" in args:
        return False  # a failed call changes nothing; the lock file's state never matters
    if name in PATH_SYSCALLS:
        return any(root in args for root in roots)
    if name == "openat":
        path = args.split(",", 2)[1] if args.count(",") >= 2 else args
        return any(root in path for root in roots) and bool(re.search(r"O_WRONLY|O_RDWR|O_CREAT", args))
    fd = re.match(r"\d+<(?P<path>[^>]*)>", args)  # -y decodes descriptors to their paths
    return fd is not None and any(fd.group("path").startswith(root) for root in roots)


def kill_points(command: list[str], roots: list[Path], env: dict[str, str] | None = None) -> list[KillPoint]:
    """The syscalls of one uninterrupted run of ``command`` that change something under ``roots``."""
    trace = Path(roots[0]).parent / f".strace-{os.getpid()}.txt"
    try:
        subprocess.run(
            [STRACE, "-f", "-y", "-qq", "-o", str(trace), "-e", f"trace={','.join(SYSCALLS)}", *command],
            check=True,
            capture_output=True,
            env=env,
        )
        lines = trace.read_text(errors="replace").splitlines()
    finally:
        trace.unlink(missing_ok=True)
    wanted = tuple(str(r.resolve()) for r in roots) + tuple(str(r) for r in roots)
    main_pid, counts, points = None, {}, []
    for line in lines:
        match = _LINE.match(line)
        if match is None:
            continue
        pid, name, args = match.group("pid", "name", "args")
        main_pid = main_pid or pid
        if pid != main_pid:
            continue
        counts[name] = counts.get(name, 0) + 1
        if _touches(name, args, wanted):
            points.append(KillPoint(name, counts[name], args))
    return _thin(points, wanted)


def _thin(points: list[KillPoint], roots: tuple[str, ...]) -> list[KillPoint]:
    """All points, but only the first and last of each run that touches hidden staging files only."""
    kept: list[KillPoint] = []
    run: list[KillPoint] = []
    for point in [*points, None]:
        if point is not None and _staging_only(point.detail, roots):
            run.append(point)
            continue
        kept += run[:1] + run[-1:] if len(run) > 1 else run
        run = []
        if point is not None:
            kept.append(point)
    return kept


def killed_runs(
    command: list[str],
    points: list[KillPoint],
    reset: Callable[[], None],
    env: dict[str, str] | None = None,
) -> Iterator[tuple[KillPoint, subprocess.CompletedProcess]]:
    """Run ``command`` once per point (after ``reset()``), killed by SIGKILL at that syscall."""
    for point in points:
        reset()
        inject = f"inject={point.syscall}:signal=KILL:when={point.when}"
        done = subprocess.run([STRACE, "-f", "-qq", "-o", "/dev/null", "-e", inject, *command], env=env)
        yield point, done


def mole_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "mole_core", *args]
