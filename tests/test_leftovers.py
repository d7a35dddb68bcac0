"""Leftovers of interrupted writes: listed by `mole validate`, deleted by `--clean` when old enough."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from mole_core import Registry


def _age(path: Path, minutes: float) -> None:
    """Make ``path`` and everything in it ``minutes`` old (age counts from the newest file inside)."""
    then = time.time() - minutes * 60
    for item in [path, *path.rglob("*")]:
        os.utime(item, (then, then))


def _crash_debris(registry: Registry, adapter: Path) -> dict[str, Path]:
    """What a kill at each step of add/replace/remove/train-router leaves."""
    experts, routers = registry.root / "experts", registry.root / "routers"
    routers.mkdir(exist_ok=True)
    debris = {
        "staging": experts / ".beta.0123456789ab.tmp",
        "replaced": experts / ".alpha.ba9876543210.old",
        "removed": experts / ".gamma.removed",
        "unlisted": experts / "delta",
        "router": routers / ".minilm.abcdefabcdef.tmp",
    }
    for path in debris.values():
        path.mkdir()
        (path / "adapter_model.safetensors").write_bytes((adapter / "adapter_model.safetensors").read_bytes())
    return debris


def test_validate_lists_leftovers_without_failing(cli, registry: Registry, adapter_factory) -> None:
    adapter = adapter_factory(rank=4)
    registry.add_expert("alpha", adapter)
    debris = _crash_debris(registry, adapter)
    result = cli("validate", "--json", "--registry", str(registry.root))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] and data["removed"] == []
    kinds = {Path(item["path"]).name: item["kind"] for item in data["leftovers"]}
    assert kinds == {
        ".beta.0123456789ab.tmp": "staging",
        ".alpha.ba9876543210.old": "replaced",
        ".gamma.removed": "removed",
        "delta": "unlisted",
        ".minilm.abcdefabcdef.tmp": "staging",
    }
    assert all(item["bytes"] > 0 for item in data["leftovers"])
    assert all(p.exists() for p in debris.values())
    text = cli("validate", "--registry", str(registry.root)).output
    assert "leftover:" in text and "mole validate --clean" in text


def test_clean_deletes_only_old_leftovers_and_nothing_listed(
    cli, registry: Registry, adapter_factory
) -> None:
    adapter = adapter_factory(rank=4)
    registry.add_expert("alpha", adapter)
    debris = _crash_debris(registry, adapter)
    for name in ("staging", "unlisted", "router"):
        _age(debris[name], 120)
    manifest = registry.manifest_path.read_bytes()
    result = cli("validate", "--clean", "--json", "--registry", str(registry.root))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {Path(i["path"]).name for i in data["removed"]} == {
        debris[n].name for n in ("staging", "unlisted", "router")
    }
    assert not any(debris[n].exists() for n in ("staging", "unlisted", "router"))
    assert debris["replaced"].exists() and debris["removed"].exists(), "young ones may be a write in progress"
    assert registry.manifest_path.read_bytes() == manifest
    assert registry.expert_dir(registry.get_expert("alpha")).is_dir() and registry.validate() == []

    assert cli("validate", "--clean", "--older-than", "0", "--registry", str(registry.root)).exit_code == 0
    assert registry.leftovers() == [] and registry.validate() == []


def test_no_leftovers_after_normal_operations(registry: Registry, adapter_factory) -> None:
    registry.add_expert("alpha", adapter_factory(rank=4))
    registry.add_expert("alpha", adapter_factory(rank=2, seed=3), replace=True)
    registry.add_expert("beta", adapter_factory(rank=2))
    registry.remove_expert("beta")
    assert registry.leftovers() == []


def test_transfer_and_manifest_leftovers_are_seen_and_nothing_else(cli, registry: Registry) -> None:
    """What a kill during `push`, `pull`, `pull-registry` or a manifest write leaves, found by MoLE's own
    names only: a user's hidden files beside or inside the registry are never listed, never deleted."""
    root = registry.root
    made = {
        root / ".push.0123456789ab.tmp": "push",
        root / ".pull.0123456789ab.tmp": "download",
        root.parent / f".{root.name}.0123456789ab.tmp": "staging",
        root.parent / f".{root.name}.ba9876543210.old": "replaced",
    }
    for path in made:
        path.mkdir()
        (path / "f").write_text("x")
    (root / ".mole.toml.ab12cd_9.tmp").write_text("half")
    made[root / ".mole.toml.ab12cd_9.tmp"] = "staging"
    users = [
        root / ".notes.tmp",
        root.parent / f".{root.name}.tmp",
        root.parent / "other",
        root / ".push.tmp",
    ]
    for path in users:
        path.mkdir()
    kinds = {item.path: item.kind for item in registry.leftovers()}
    assert kinds == made
    for path in made:
        _age(path, 120)
    result = cli("validate", "--clean", "--json", "--registry", str(root))
    assert {Path(i["path"]) for i in json.loads(result.stdout)["removed"]} == set(made)
    assert not any(path.exists() for path in made) and all(path.exists() for path in users)
