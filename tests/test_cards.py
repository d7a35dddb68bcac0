"""Every registered expert's folder holds MoLE's model card (not PEFT's template), the card `mole push`
uploads: Hub metadata through huggingface_hub's ModelCard, base model, licence and datasets where known."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import ModelCard

from mole_core import Registry, TrainingRecord
from mole_core.basemodel import SMOLLM2_ID
from mole_core.hub.cards import expert_card
from mole_core.manifest import ExpertEntry


def test_registration_writes_moles_card_not_pefts_template(registry: Registry, adapter_factory) -> None:
    adapter = adapter_factory(rank=4, seed=1)
    assert "More Information Needed" in (adapter / "README.md").read_text()  # PEFT's template
    entry = registry.add_expert("math", adapter, task="Arithmetic", examples=["What is 2 + 3?"])
    text = (registry.expert_dir("math") / "README.md").read_text()
    assert "More Information Needed" not in text
    card = ModelCard(text)
    assert card.data.library_name == "peft" and "mole-expert" in card.data.tags
    assert card.data.base_model is None  # a local path is no Hub id: never published as base_model
    assert card.data.rank == 4 and card.data.task == "Arithmetic"
    assert entry.sha256 in text and "What is 2 + 3?" in text and "https://github.com/)" not in text
    assert text == expert_card(entry)
    assert registry.validate() == []


def test_card_names_license_and_datasets_where_known() -> None:
    entry = ExpertEntry(
        name="reasoning",
        task="Grade-school math",
        rank=8,
        alpha=16,
        target_modules=["q_proj"],
        base_model=SMOLLM2_ID,
        plugin="mole_plugins.experts",
        path="experts/reasoning",
        sha256="0" * 64,
        training=TrainingRecord(dataset="gsm8k", steps=10),
    )
    card = ModelCard(expert_card(entry, "me/reasoning"))
    assert card.data.base_model == SMOLLM2_ID
    assert card.data.license == "apache-2.0"
    assert card.data.datasets == ["openai/gsm8k"]
    assert "licence MIT" in card.text and 'PeftModel.from_pretrained(base_model, "me/reasoning")' in card.text
    unknown = ModelCard(expert_card(entry.model_copy(update={"base_model": "org/other", "training": None})))
    assert unknown.data.license is None and unknown.data.base_model == "org/other"
    assert unknown.data.datasets == ["openai/gsm8k"]  # from the plugin spec of the expert's name


def test_card_for_an_outside_adapter_has_no_invented_metadata(registry: Registry, adapter_factory) -> None:
    registry.add_expert("legal", adapter_factory(rank=2, seed=2))
    card = ModelCard((Path(registry.expert_dir("legal")) / "README.md").read_text())
    assert card.data.license is None and card.data.datasets is None
