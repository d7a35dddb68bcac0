"""Replacing an expert or a router survives a SIGKILL at every syscall that changes the registry: after
each kill the registry validates and the entry is the old one or the new one, never gone, also after
``mole validate --clean`` (which must never delete what the manifest still needs)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from syscall_kills import STRACE, kill_points, killed_runs, mole_command

from mole_core import Registry

pytest_plugins = ["hub_fixtures"]

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


def test_pull_replace_survives_a_kill_at_every_syscall(
    tmp_path: Path, tiny_base: Path, adapter_factory, request
) -> None:
    from mole_core.hub import push_expert

    env = request.getfixturevalue("hub_env")
    template = Registry.init(tmp_path / "template", base=str(tiny_base))
    old_sha = template.add_expert("alpha", adapter_factory(rank=4)).sha256
    source = Registry.init(tmp_path / "source", base=str(tiny_base))
    new_sha = source.add_expert("alpha", adapter_factory(rank=2, seed=5)).sha256
    push_expert(source, "alpha", "mole-tester/alpha")
    root = tmp_path / "reg"
    command = mole_command("pull", "mole-tester/alpha", "--replace", "--registry", str(root))

    def reset() -> None:
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(template.root, root)

    reset()
    points = kill_points(command, [root], env=env.env)
    assert Registry(root).get_expert("alpha").sha256 == new_sha
    seen, missed = set(), 0
    for point, done in killed_runs(command, points, reset, env=env.env):
        missed += done.returncode == 0  # downloads run in threads: a count can shift between runs
        seen.add(_check(root, "alpha", {old_sha, new_sha}, point))
    assert seen == {old_sha, new_sha} and missed <= len(points) // 2, (missed, seen, points)


ROUTER_SCRIPT = """
import sys
from pathlib import Path
import numpy as np
from safetensors.numpy import save_file
from mole_core import Registry

pytest_plugins = ["hub_fixtures"]
from mole_core.routing import Router, save_router, write_config

class Tiny(Router):
    kind = "tiny"
    def predict(self, queries):
        return [[1.0 / len(self.labels)] * len(self.labels) for _ in queries]
    def save(self, directory):
        save_file({"w": np.full(4, float(sys.argv[2]), dtype=np.float32)}, str(Path(directory) / "model.safetensors"))
        write_config(Path(directory), self.config())

save_router(Registry(sys.argv[1]), Tiny(["alpha", "beta"]))
"""


def test_router_replace_survives_a_kill_at_every_syscall(
    tmp_path: Path, tiny_base: Path, adapter_factory
) -> None:
    """What `train-router` does once trained (save_router), over an existing router."""
    import subprocess
    import sys

    template = Registry.init(tmp_path / "template", base=str(tiny_base))
    template.add_expert("alpha", adapter_factory(rank=4))
    template.add_expert("beta", adapter_factory(rank=2, seed=5))
    script = tmp_path / "save_router.py"
    script.write_text(ROUTER_SCRIPT)
    subprocess.run([sys.executable, str(script), str(template.root), "1"], check=True)
    old_sha = template.load().router.sha256
    root = tmp_path / "reg"
    command = [sys.executable, str(script), str(root), "2"]

    def reset() -> None:
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(template.root, root)

    reset()
    points = kill_points(command, [root])
    new_sha = Registry(root).load().router.sha256
    assert new_sha != old_sha
    seen = set()
    for point, done in killed_runs(command, points, reset):
        assert done.returncode != 0, f"{point}: the kill did not happen"
        registry = Registry(root)
        for _ in range(2):
            assert registry.validate() == [], (point, registry.validate())
            seen.add(registry.load().router.sha256)
            assert registry.load().router.sha256 in {old_sha, new_sha}, point
            registry.clean(min_age_s=0)
        assert registry.leftovers() == [], point
    assert seen == {old_sha, new_sha}
