"""Which adapters count as made for the registry's base model: the same name, MoLE's own converted
SmolLM2 cache, a local copy with the same config; never a name that only ends the same way."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mole_core import AdapterError, Registry
from mole_core.basemodel import SMOLLM2_ID, same_base
from mole_core.manifest import BaseModelRef


def with_base(adapter: Path, base: str, to: Path) -> Path:
    """A copy of ``adapter`` whose config records ``base`` as its base model."""
    shutil.copytree(adapter, to)
    config = json.loads((to / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = base
    (to / "adapter_config.json").write_text(json.dumps(config))
    return to


def test_a_name_ending_like_the_base_is_not_the_base(
    registry: Registry, adapter_factory, tiny_base: Path, tmp_path: Path
) -> None:
    """``attacker-org/tiny-llama`` must not match a local ``…/tiny-llama``."""
    adapter = with_base(adapter_factory(rank=2), f"attacker-org/{tiny_base.name}", tmp_path / "a")
    with pytest.raises(AdapterError) as err:
        registry.add_expert("x", adapter)
    message = str(err.value)
    assert "attacker-org/tiny-llama" in message and "--allow-base-mismatch" in message and "\n" not in message
    assert registry.experts() == []


def test_override_registers_it_and_records_the_registry_base(
    registry: Registry, adapter_factory, tiny_base: Path, tmp_path: Path
) -> None:
    adapter = with_base(adapter_factory(rank=2), "someone/renamed-copy", tmp_path / "a")
    entry = registry.add_expert("x", adapter, allow_base_mismatch=True)
    assert entry.base_model == registry.load().base.id
    assert registry.validate() == []


def test_override_still_checks_tensor_shapes(
    registry: Registry, adapter_factory, other_base: Path, tmp_path: Path
) -> None:
    foreign = with_base(adapter_factory(rank=2, base=other_base), "whatever/x", tmp_path / "a")
    with pytest.raises(AdapterError, match="another base model"):
        registry.add_expert("x", foreign, allow_base_mismatch=True)


def test_a_local_copy_with_the_same_config_matches(
    registry: Registry, adapter_factory, tiny_base: Path, other_base: Path, tmp_path: Path
) -> None:
    copy = shutil.copytree(tiny_base, tmp_path / "models" / "my-copy-1234")
    adapter = with_base(adapter_factory(rank=2), str(copy), tmp_path / "a")
    assert registry.add_expert("x", adapter).name == "x"
    # a bare folder name (how `mole push` publishes a local base) names a local base of that name
    assert same_base(tiny_base.name, registry.load().base)
    assert not same_base(f"org/{tiny_base.name}", registry.load().base)
    # the same folder name as the base, but another model's config: refused
    impostor = shutil.copytree(other_base, tmp_path / "elsewhere" / tiny_base.name)
    assert not same_base(str(impostor), registry.load().base)


@pytest.mark.parametrize(
    ("recorded", "ok"),
    [
        (SMOLLM2_ID, True),
        (SMOLLM2_ID.lower() + "/", True),
        ("/home/bob/.cache/mole/models/smollm2-135m-instruct-98362432", True),
        ("C:\\Users\\bob\\.cache\\mole\\models\\smollm2-135m-instruct-98362432", True),
        ("attacker-org/SmolLM2-135M-Instruct", False),
        ("/tmp/smollm2-135m-instruct-98362432-evil", False),
        ("/data/SmolLM2-135M-Instruct", False),
        (None, True),
    ],
)
def test_embedded_smollm2_cache_is_recognised(recorded: str | None, ok: bool) -> None:
    assert same_base(recorded, BaseModelRef(id=SMOLLM2_ID)) is ok


def test_cli_refusal_is_one_line_and_the_flag_overrides(
    mole, registry: Registry, adapter_factory, tiny_base: Path, tmp_path: Path
) -> None:  # noqa: ANN001
    adapter = with_base(adapter_factory(rank=2), f"attacker-org/{tiny_base.name}", tmp_path / "a")
    args = ["add-expert", "x", "--adapter", str(adapter), "--registry", str(registry.root)]
    refused = mole(*args)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "--allow-base-mismatch" in refused.stderr
    accepted = mole(*args, "--allow-base-mismatch", "--json")
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["name"] == "x"
