"""Registry operations through the library API: add, refuse, remove, validate, atomicity."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mole_core import AdapterError, MoleError, NotFoundError, Registry
from mole_core.adapters import sha256_file


def test_add_expert_reads_config_copies_and_records_sha(registry: Registry, adapter_factory) -> None:
    adapter = adapter_factory(rank=8, alpha=16)
    entry = registry.add_expert("alpha", adapter, task="testing")
    assert (entry.rank, entry.alpha) == (8, 16.0)
    assert entry.target_modules == sorted(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    copied = registry.root / "experts" / "alpha" / "adapter_model.safetensors"
    assert copied.is_file() and entry.sha256 == sha256_file(adapter / "adapter_model.safetensors")
    assert registry.get_expert("alpha").task == "testing"
    assert registry.validate() == []


def test_contradicting_rank_or_alpha_is_refused(registry: Registry, adapter_factory) -> None:
    adapter = adapter_factory(rank=8)
    with pytest.raises(AdapterError, match="--rank 16 contradicts"):
        registry.add_expert("alpha", adapter, rank=16)
    with pytest.raises(AdapterError, match="--alpha 3 contradicts"):
        registry.add_expert("alpha", adapter, alpha=3)
    assert registry.experts() == []
    assert not (registry.root / "experts" / "alpha").exists()


def test_adapter_for_another_base_is_refused_by_name_and_by_shape(
    registry: Registry, adapter_factory, other_base: Path, copy_adapter
) -> None:
    foreign = adapter_factory(rank=4, base=other_base)
    with pytest.raises(AdapterError, match="was made for base model"):
        registry.add_expert("foreign", foreign)
    # Renaming the recorded base does not fool the shape check.
    disguised = copy_adapter(foreign)
    config = json.loads((disguised / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = None
    (disguised / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(AdapterError, match="another base model"):
        registry.add_expert("foreign", disguised)
    assert registry.experts() == []


def test_duplicate_name_refused_unless_replace(registry: Registry, adapter_factory) -> None:
    registry.add_expert("alpha", adapter_factory(rank=4))
    with pytest.raises(MoleError, match="already registered"):
        registry.add_expert("alpha", adapter_factory(rank=8))
    entry = registry.add_expert("alpha", adapter_factory(rank=8), replace=True)
    assert entry.rank == 8 and len(registry.experts()) == 1
    assert registry.validate() == []


def test_pickle_adapter_refused_without_opt_in(registry: Registry, adapter_factory, copy_adapter) -> None:
    adapter = copy_adapter(adapter_factory(rank=4))
    (adapter / "adapter_model.safetensors").rename(adapter / "adapter_model.bin")
    with pytest.raises(AdapterError, match="pickle"):
        registry.add_expert("pickled", adapter)


def test_remove_expert_deletes_entry_and_files(registry: Registry, adapter_factory) -> None:
    registry.add_expert("alpha", adapter_factory(rank=4))
    registry.remove_expert("alpha")
    assert registry.experts() == []
    assert not (registry.root / "experts" / "alpha").exists()
    with pytest.raises(NotFoundError):
        registry.remove_expert("alpha")


def test_validate_reports_tampering_missing_files_and_config_drift(
    registry: Registry, adapter_factory
) -> None:
    registry.add_expert("alpha", adapter_factory(rank=4))
    registry.add_expert("beta", adapter_factory(rank=8))
    registry.add_expert("gamma", adapter_factory(rank=4, seed=3))
    weights = registry.root / "experts" / "alpha" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    (registry.root / "experts" / "beta" / "adapter_model.safetensors").unlink()
    config_path = registry.root / "experts" / "gamma" / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["r"] = 5
    config_path.write_text(json.dumps(config))
    problems: dict[str, str] = {}
    for problem in registry.validate():
        problems[problem.subject] = problems.get(problem.subject, "") + problem.message + "; "
    assert "checksum mismatch" in problems["expert alpha"]
    assert "lacks adapter_model.safetensors" in problems["expert beta"]
    assert "rank 4 in manifest, r=5" in problems["expert gamma"]
    assert "has rank 4, but adapter_config.json says r=5" in problems["expert gamma"]


def test_failed_add_leaves_no_staging_directory(registry: Registry, adapter_factory) -> None:
    with pytest.raises(AdapterError):
        registry.add_expert("alpha", adapter_factory(rank=4), expected_sha256="0" * 64)
    experts = registry.root / "experts"
    assert not experts.exists() or list(experts.iterdir()) == []
    assert registry.experts() == []


def test_manifest_write_is_atomic(
    registry: Registry, adapter_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.add_expert("alpha", adapter_factory(rank=4))
    before = registry.manifest_path.read_text()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("mole_core.atomic.os.replace", explode)
    with pytest.raises(OSError):
        registry.add_expert("beta", adapter_factory(rank=8))
    assert registry.manifest_path.read_text() == before
    assert not [p for p in registry.root.iterdir() if p.name.endswith(".tmp")]


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    Registry.init(tmp_path, base="org/model")
    with pytest.raises(MoleError, match="already exists"):
        Registry.init(tmp_path, base="org/model")


def test_opted_in_pickle_is_converted_to_safetensors(
    registry: Registry, adapter_factory, copy_adapter
) -> None:
    import torch
    from safetensors.torch import load_file

    original = adapter_factory(rank=4)
    adapter = copy_adapter(original)
    state = load_file(str(adapter / "adapter_model.safetensors"))
    (adapter / "adapter_model.safetensors").unlink()
    torch.save(state, adapter / "adapter_model.bin")
    entry = registry.add_expert("pickled", adapter, allow_pickle=True)
    stored = registry.root / entry.path
    assert not (stored / "adapter_model.bin").exists()
    converted = load_file(str(stored / "adapter_model.safetensors"))
    assert converted.keys() == state.keys() and all(torch.equal(converted[k], state[k]) for k in state)
    assert registry.validate() == []


def test_pickle_with_code_is_refused_even_when_opted_in(
    registry: Registry, adapter_factory, copy_adapter
) -> None:
    import pickle

    adapter = copy_adapter(adapter_factory(rank=4))
    (adapter / "adapter_model.safetensors").unlink()

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (adapter / "adapter_model.bin").write_bytes(pickle.dumps({"w": Evil()}))
    with pytest.raises(AdapterError, match="cannot read the pickle safely"):
        registry.add_expert("evil", adapter, allow_pickle=True)
    assert registry.experts() == []


def test_no_code_path_turns_on_trust_remote_code() -> None:
    """trust_remote_code is never enabled implicitly: no call in MoLE passes True."""
    import re

    root = Path(__file__).resolve().parent.parent
    offenders = [
        str(path.relative_to(root))
        for folder in ("mole_core", "plugins")
        for path in (root / folder).rglob("*.py")
        if re.search(r"trust_remote_code\s*=\s*(True|1)", path.read_text())
    ]
    assert offenders == []


def test_manifest_respects_the_umask_and_keeps_an_existing_mode(
    tmp_path: Path, tiny_base: Path, adapter_factory
) -> None:
    """A team registry must stay readable by the team: no 0600 from the temporary file."""
    old = os.umask(0o002)
    try:
        registry = Registry.init(tmp_path / "team", base=str(tiny_base))
        assert registry.manifest_path.stat().st_mode & 0o777 == 0o664
        registry.manifest_path.chmod(0o640)  # the owner's choice survives every rewrite
        registry.add_expert("alpha", adapter_factory(rank=4))
        assert registry.manifest_path.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)
    from mole_core import atomic

    old = os.umask(0o077)
    try:
        atomic.write_text(tmp_path / "private.txt", "x")
        assert (tmp_path / "private.txt").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lora_alpha": float("inf")}, "lora_alpha must be a finite number"),
        ({"lora_alpha": 1e300}, "lora_alpha must be a finite number"),
        ({"r": 10**30}, "r must be an integer from 1 to 65536"),
        ({"r": 8}, "has rank 4, but adapter_config.json says r=8"),
        ({"rank_pattern": {"q_proj": 10**30}}, "rank_pattern['q_proj'] must be an integer"),
        ({"alpha_pattern": {"q_proj": float("nan")}}, "alpha_pattern['q_proj'] must be a finite number"),
    ],
)
def test_hostile_ranks_and_alphas_are_refused_in_one_line(
    cli, registry: Registry, adapter_factory, copy_adapter, change: dict, message: str
) -> None:
    adapter = copy_adapter(adapter_factory(rank=4))
    config = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(json.dumps({**config, **change}))  # inf -> Infinity
    result = cli("add-expert", "alpha", "--adapter", str(adapter), "--registry", str(registry.root))
    assert result.exit_code == 1 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and registry.load().experts == []


def test_hostile_rank_or_alpha_in_a_registered_expert_fails_validate_and_generate(
    cli, registry: Registry, adapter_factory
) -> None:
    registry.add_expert("alpha", adapter_factory(rank=4))
    config_path = registry.expert_dir(registry.get_expert("alpha")) / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "r": 10**30}))
    result = cli("validate", "--registry", str(registry.root))
    assert result.exit_code == 1 and "r must be an integer from 1 to 65536" in result.output
    result = cli("generate", "hi", "--expert", "alpha", "--registry", str(registry.root))
    assert result.exit_code == 1 and "r must be an integer from 1 to 65536" in result.output, result.output
    text = registry.manifest_path.read_text().replace("alpha = 4.0", "alpha = inf")
    registry.manifest_path.write_text(text)
    result = cli("list", "--registry", str(registry.root))
    assert result.exit_code == 2 and "experts[0] (alpha).alpha" in result.output
