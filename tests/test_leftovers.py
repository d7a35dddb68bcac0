"""Leftovers of interrupted writes: listed by `mole validate`, deleted by `--clean` when old enough."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from mole_core import Registry


def _age(path: Path, minutes: float) -> None:
    then = time.time() - minutes * 60
    os.utime(path, (then, then))


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
