"""Replacing an expert or a router survives a SIGKILL at every syscall that changes the registry: after
each kill the registry validates and the entry is the old one or the new one, never gone, also after
``mole validate --clean`` (which must never delete what the manifest still needs)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from syscall_kills import STRACE, kill_points, killed_runs, mole_command

from mole_core import Registry

pytestmark = pytest.mark.skipif(STRACE is None, reason="strace is not installed (.ci/run installs it)")


def _check(root: Path, name: str, allowed: set[str], point: object) -> str:
    """The registry is consistent and ``name`` is one of the ``allowed`` versions, before and after --clean."""
    registry = Registry(root)
    for _ in range(2):
        assert registry.validate() == [], (point, registry.validate())
        sha = registry.get_expert(name).sha256
        assert sha in allowed, (point, sha)
        registry.clean(min_age_s=0)
    assert registry.leftovers() == [], (point, registry.leftovers())
    return sha


def test_add_expert_replace_survives_a_kill_at_every_syscall(
    tmp_path: Path, tiny_base: Path, adapter_factory
) -> None:
    old, new = adapter_factory(rank=4), adapter_factory(rank=2, seed=5)
    template = Registry.init(tmp_path / "template", base=str(tiny_base))
    old_sha = template.add_expert("alpha", old).sha256
    root = tmp_path / "reg"
    command = mole_command("add-expert", "alpha", "--adapter", str(new), "--replace", "--registry", str(root))

    def reset() -> None:
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(template.root, root)

    reset()
    points = kill_points(command, [root])
    new_sha = Registry(root).get_expert("alpha").sha256
    assert new_sha != old_sha
    assert {p.syscall for p in points} >= {"rename", "fsync", "openat", "rmdir"}, points
    seen = {}
    for point, done in killed_runs(command, points, reset):
        assert done.returncode != 0, f"{point}: the kill did not happen"
        seen[str(point)] = _check(root, "alpha", {old_sha, new_sha}, point)
    assert set(seen.values()) == {old_sha, new_sha}, "kills before and after the switch were both exercised"
