"""Manifest paths are confined: each entry owns ``experts/NAME`` (or a version of it) and nothing else, so a
hostile or mistaken manifest can never make ``remove-expert`` delete the registry, another expert, or
anything outside; removing under the lock; what happens to the router when its expert goes."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest
import tomli_w
from conftest import run_mole

from mole_core import Registry
from mole_core.manifest import RouterEntry, check_entry_path

HOSTILE_PATHS = [
    ".",
    "",
    "experts",
    "experts/",
    "experts/beta",
    "experts/alpha/..",
    "experts/../experts/beta",
    "experts/./alpha",
    "experts//alpha",
    "experts/alpha/sub",
    "experts/alpha@notahexversion",
    "/tmp",
    "../outside",
    "experts\\alpha",
    "experts/alpha\x00",
    "routers/alpha",
]


def _set_path(registry: Registry, name: str, path: str) -> None:
    data = tomllib.loads(registry.manifest_path.read_text())
    for entry in data["experts"]:
        if entry["name"] == name:
            entry["path"] = path
    registry.manifest_path.write_text(tomli_w.dumps(data))


def _two_experts(registry: Registry, adapter_factory) -> None:  # noqa: ANN001
    registry.add_expert("alpha", adapter_factory(rank=4))
    registry.add_expert("beta", adapter_factory(rank=2, seed=2))


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if ".mole.lock" not in p.name}


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_hostile_path_is_refused_in_one_line_and_nothing_is_deleted(
    cli, registry: Registry, adapter_factory, path: str
) -> None:
    _two_experts(registry, adapter_factory)
    _set_path(registry, "alpha", path)
    before = _tree(registry.root)
    for args in (
        ["remove-expert", "alpha", "--yes"],
        ["list"],
        ["validate"],
        ["show", "alpha"],
        ["validate", "--clean", "--older-than", "0"],
    ):
        result = cli(*args, "--registry", str(registry.root))
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "experts[0] (alpha).path" in lines[0], (args, result.output)
        assert "must be 'experts/alpha'" in lines[0]
    assert _tree(registry.root) == before  # the registry, beta and alpha's files all still there


def test_remove_with_a_shared_path_refused_even_for_thousands(registry: Registry, adapter_factory) -> None:
    """The reported attack: many experts pointing at one directory; one remove used to delete it for all."""
    registry.add_expert("alpha", adapter_factory(rank=4))
    data = tomllib.loads(registry.manifest_path.read_text())
    template = data["experts"][0]
    data["experts"] += [{**template, "name": f"e{i}", "path": "experts/alpha"} for i in range(2000)]
    registry.manifest_path.write_text(tomli_w.dumps(data))
    result = run_mole("remove-expert", "e7", "--yes", "--registry", str(registry.root))
    assert result.returncode == 2 and "experts[1] (e0).path" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert (registry.root / "experts" / "alpha" / "adapter_model.safetensors").is_file()


def test_entry_paths_are_own_directories() -> None:
    assert check_entry_path("experts/alpha", "experts", "alpha") == "experts/alpha"
    assert check_entry_path("experts/alpha@0a1b2c3d4e5f", "experts", "alpha")
    assert check_entry_path("routers/minilm", "routers", "minilm")
    with pytest.raises(ValueError, match="must be .routers/minilm."):
        RouterEntry(name="minilm", path="routers", labels=["a"])
    with pytest.raises(ValueError):
        RouterEntry(name="minilm", path="experts/alpha", labels=["a"])


def test_symlinked_expert_directory_is_refused_not_followed(
    cli, registry: Registry, adapter_factory, tmp_path: Path
) -> None:
    """A link planted at experts/alpha (or experts/ itself) pointing outside is never read or deleted through."""
    _two_experts(registry, adapter_factory)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    alpha = registry.root / "experts" / "alpha"
    for f in alpha.iterdir():
        (outside / f.name).write_bytes(f.read_bytes())
    os.rename(alpha, tmp_path / "moved")
    alpha.symlink_to(outside)
    problems = [str(p) for p in registry.validate()]
    assert any("expert alpha" in p and "symbolic link" in p for p in problems), problems
    from mole_core.runtime import verify_adapter

    with pytest.raises(Exception, match="symbolic link"):
        verify_adapter(registry, registry.get_expert("alpha"))
    assert cli("remove-expert", "alpha", "--yes", "--registry", str(registry.root)).exit_code == 0
    assert (outside / "precious.txt").read_text() == "keep me" and not alpha.exists()

    experts = registry.root / "experts"
    os.rename(experts, tmp_path / "real-experts")
    experts.symlink_to(tmp_path / "real-experts")
    result = cli("remove-expert", "beta", "--yes", "--registry", str(registry.root))
    assert result.exit_code == 1 and "symbolic link" in result.output
    assert (tmp_path / "real-experts" / "beta" / "adapter_model.safetensors").is_file()


def test_remove_and_add_of_one_name_never_leave_a_listed_expert_without_files(
    registry: Registry, adapter_factory, monkeypatch
) -> None:
    """An add of the same name right after the remove releases the lock keeps its files: the remove
    has already moved the old directory aside under the lock."""
    first, second = adapter_factory(rank=4), adapter_factory(rank=2, seed=5)
    registry.add_expert("alpha", first)
    real_lock = Registry.lock
    state = {"armed": True}

    from contextlib import contextmanager

    @contextmanager
    def lock_then_race(self: Registry, timeout: float | None = None):  # noqa: ANN202
        with real_lock(self, timeout):
            yield
        if state["armed"] and "alpha" not in Registry(self.root).load().names():
            state["armed"] = False  # the remove has committed and released: another process adds alpha now
            Registry(self.root).add_expert("alpha", second)

    monkeypatch.setattr(Registry, "lock", lock_then_race)
    registry.remove_expert("alpha")
    assert not state["armed"], "the race was not exercised"
    monkeypatch.setattr(Registry, "lock", real_lock)
    assert registry.get_expert("alpha").rank == 2
    assert registry.validate() == []


def _fake_router(registry: Registry) -> None:
    from mole_core.adapters import sha256_file

    directory = registry.root / "routers" / "bert-tiny"
    directory.mkdir(parents=True)
    (directory / "model.safetensors").write_bytes(b"not really weights")
    (directory / "config.json").write_text(json.dumps({"kind": "bert-tiny", "labels": ["alpha", "beta"]}))
    registry.set_router(
        RouterEntry(
            name="bert-tiny",
            path="routers/bert-tiny",
            labels=["alpha", "beta"],
            sha256=sha256_file(directory / "model.safetensors"),
        )
    )


def test_removing_one_of_two_experts_drops_the_router_and_routes_to_the_one_left(
    registry: Registry, adapter_factory, caplog
) -> None:
    from mole_core.routing import FixedRouter, load_router

    _two_experts(registry, adapter_factory)
    _fake_router(registry)
    with caplog.at_level("WARNING"):
        registry.remove_expert("beta")
    manifest = registry.load()
    assert manifest.router is None and not (registry.root / "routers" / "bert-tiny").exists()
    assert (
        "removed the bert-tiny router too" in caplog.text and "every query now goes to alpha" in caplog.text
    )
    router = load_router(registry)
    assert isinstance(router, FixedRouter) and router.route(["anything"])[0].expert == "alpha"
    assert registry.validate() == [] and registry.leftovers() == []


def test_removing_one_of_three_falls_back_to_example_routing(
    registry: Registry, adapter_factory, caplog
) -> None:
    _two_experts(registry, adapter_factory)
    registry.add_expert("gamma", adapter_factory(rank=2, seed=6))
    registry.add_expert("delta", adapter_factory(rank=2, seed=7))
    _fake_router(registry)  # over alpha and beta only: removing delta keeps it
    registry.remove_expert("delta")
    assert registry.load().router is not None
    with caplog.at_level("WARNING"):
        registry.remove_expert("alpha")
    assert registry.load().router is None and "routed by the experts' example queries" in caplog.text
