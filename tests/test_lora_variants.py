"""Every PEFT LoRA variant MoLE accepts gives PEFT's own output, routed in a mixed batch and forced,
on the fast path and on PEFT's path (``MOLE_FAST_LORA=0``); every variant it refuses gets one line at
``add-expert``."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from mole_core import AdapterError, Registry
from mole_core.routing import Router
from mole_core.runtime import MoLE

#: name -> make_adapter keyword arguments (all accepted by MoLE)
ACCEPTED = {
    "plain": {},
    "rslora": {"use_rslora": True, "alpha": 16},
    "rank_pattern": {"rank_pattern": {"q_proj": 2}, "alpha_pattern": {"v_proj": 11}},
    "all_linear": {"targets": "all-linear"},
    "lora_bias": {"lora_bias": True},
    "dora": {"use_dora": True},
}
#: alpha 8x the rank: a random tiny model's greedy tokens change with every expert (at 1x they rarely do)
QUERIES = ["variant: solve x + 1 = 2", "other: a fact", "variant: why is the sky blue", "other, then"]
NEW_TOKENS = 6


class PrefixRouter(Router):
    """Routes a query to the expert whose name starts it (deterministic, no model)."""

    kind = "prefix"

    def predict(self, queries: Sequence[str]) -> list[list[float]]:
        return [[0.9 if q.startswith(label) else 0.1 for label in self.labels] for q in queries]

    def save(self, directory: Path) -> None:  # pragma: no cover
        raise NotImplementedError


def peft_alone(base: Path, adapter: Path | None, mole: MoLE, queries: list[str], name: str) -> list[str]:
    """PEFT's single-adapter path (or the bare base), one query at a time, on MoLE's framed prompts."""
    from peft import PeftModel

    from mole_core import basemodel

    model = basemodel.load_model(mole.manifest.base)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, str(adapter)).eval()
    template = mole.template_for({name: 1.0} if adapter is not None else {})
    out = []
    for prompt in mole.prompts(queries, NEW_TOKENS, [template] * len(queries)):
        batch = mole.tokenizer([prompt], return_tensors="pt", add_special_tokens=False)
        ids = model.generate(**batch, max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=0)
        new = ids[0, batch["input_ids"].shape[1] :].tolist()
        eos = {mole.tokenizer.eos_token_id, mole.tokenizer.pad_token_id}
        n = next((i for i, t in enumerate(new) if t in eos), len(new))
        out.append(mole.tokenizer.decode(new[:n], skip_special_tokens=True).strip())
    return out


@pytest.fixture(scope="module", params=sorted(ACCEPTED))
def variant(request, tiny_base: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001, ANN201
    """(MoLE with experts ``variant`` and ``other``, PEFT's answers per expert and for the base)."""
    from tiny import make_adapter

    root = tmp_path_factory.mktemp(f"variant-{request.param}")
    adapter = make_adapter(tiny_base, root / "adapter", seed=3, **{"alpha": 32, **ACCEPTED[request.param]})
    other = make_adapter(tiny_base, root / "other", rank=2, alpha=16, seed=5)
    registry = Registry.init(root / "reg", base=str(tiny_base))
    registry.add_expert("variant", adapter)
    registry.add_expert("other", other)
    mole = MoLE.from_registry(registry, router=PrefixRouter(["variant", "other"]))
    # compare token ids, not text: many of a random model's tokens decode to nothing
    mole.tokenizer.decode = lambda ids, **_: " ".join(map(str, ids))
    expected = {
        "variant": peft_alone(tiny_base, adapter, mole, QUERIES, "variant"),
        "other": peft_alone(tiny_base, other, mole, QUERIES, "other"),
        "base": peft_alone(tiny_base, None, mole, QUERIES, "base"),
    }
    return mole, expected


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "peft-path"])
def test_variant_matches_peft_mixed_and_forced(variant, fast: bool) -> None:  # noqa: ANN001
    mole, expected = variant
    saved = mole._mixed
    if not fast:
        mole._mixed = None  # what MOLE_FAST_LORA=0 gives
    try:
        routed = mole.generate(QUERIES, max_new_tokens=NEW_TOKENS)
        assert [g.expert for g in routed] == ["variant", "other", "variant", "other"]
        assert [g.text for g in routed] == [expected[g.expert][i] for i, g in enumerate(routed)]
        for name in ("variant", "other", "base"):
            forced = mole.generate(QUERIES, max_new_tokens=NEW_TOKENS, expert=name)
            assert [g.text for g in forced] == expected[name], name
    finally:
        mole._mixed = saved
    assert expected["variant"] != expected["base"], "the variant must change the output"


def test_make_peft_mixed_path_env(monkeypatch: pytest.MonkeyPatch, variant) -> None:  # noqa: ANN001
    """``MOLE_FAST_LORA=0`` really selects PEFT's path (the parametrisation above relies on it)."""
    from mole_core.paging import make_mixed

    mole, _ = variant
    monkeypatch.setenv("MOLE_FAST_LORA", "0")
    assert make_mixed(mole.model) is None


def test_top_k_never_blends_a_dora_expert(variant) -> None:  # noqa: ANN001
    """PEFT cannot blend a DoRA magnitude: a DoRA expert runs alone, and its label says so."""
    mole, expected = variant
    blended = mole.generate(QUERIES[:2], max_new_tokens=NEW_TOKENS, top_k=2)
    uses_dora = bool(getattr(mole.model.peft_config["variant"], "use_dora", False))
    if uses_dora:
        assert blended[0].expert == "variant" and blended[0].experts == {"variant": 1.0}
        assert blended[0].text == expected["variant"][0]
        assert "variant" not in blended[1].experts
    else:
        assert set(blended[0].experts) == {"variant", "other"}


REFUSED = {
    "modules_to_save": ["lm_head"],
    "trainable_token_indices": [1, 2],
    "alora_invocation_tokens": [5, 6],
    "layer_replication": [[0, 1], [0, 2]],
    "target_parameters": ["mlp.up_proj.weight"],
}


@pytest.mark.parametrize("key", sorted(REFUSED))
def test_refused_variant_is_one_line_at_add_expert(
    key: str, registry: Registry, adapter_factory, tmp_path: Path
) -> None:  # noqa: ANN001
    source = adapter_factory(rank=2, seed=7)
    adapter = tmp_path / key
    shutil.copytree(source, adapter)
    config_path = adapter / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config[key] = REFUSED[key]
    config_path.write_text(json.dumps(config))
    with pytest.raises(AdapterError, match=f"{key} .* not supported"):
        registry.add_expert("x", adapter)
    assert registry.load().experts == []


def test_modules_to_save_adapter_from_peft_is_refused_by_the_cli(
    mole, registry: Registry, tiny_base: Path, tmp_path: Path
) -> None:  # noqa: ANN001
    """A real PEFT adapter with a trained lm_head: one line, exit 1, nothing registered."""
    from tiny import make_adapter

    adapter = make_adapter(tiny_base, tmp_path / "mts", rank=2, modules_to_save=["lm_head"])
    result = mole("add-expert", "chat", "--adapter", str(adapter), "--registry", str(registry.root))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "modules_to_save" in result.stderr, result.stderr
    assert registry.load().experts == []


def test_a_refused_variant_already_in_a_registry_is_refused_at_load(
    registry: Registry, adapter_factory, tmp_path: Path
) -> None:
    """Registered before MoLE refused it: `validate` reports it and loading refuses it in one line."""
    registry.add_expert("x", adapter_factory(rank=2, seed=7))
    config_path = registry.expert_dir("x") / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["modules_to_save"] = ["lm_head"]
    config_path.write_text(json.dumps(config))
    assert any("modules_to_save" in p.message for p in registry.validate())
    with pytest.raises(AdapterError, match="modules_to_save .* not supported"):
        MoLE.from_registry(registry, load_router=False)
