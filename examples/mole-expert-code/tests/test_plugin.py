"""The plugin's own tests, built on MoLE's fixtures (``-p mole_core.testing`` in pyproject.toml)."""

import json

import mole_expert_code

from mole_core import plugins


def test_it_declares_its_expert_and_dataset(register_plugin):
    register_plugin(mole_expert_code, "code")  # what the entry point does when the package is installed
    catalogue = plugins.catalogue()
    spec = catalogue.experts["code"]
    assert spec.dataset == "code-snippets" and spec.lora.rank == 16 and spec.routing.templates
    examples = catalogue.datasets["code-snippets"].load("train", limit=4)
    assert len(examples) == 4 and all(e.prompt and e.completion for e in examples)
    assert not [p for p in catalogue.problems if p.plugin == "code"]


def test_mole_lists_it(register_plugin, mole_cli):
    register_plugin(mole_expert_code, "code")
    data = json.loads(mole_cli("plugins", "--json").stdout)
    code = next(e for e in data["experts"] if e["name"] == "code")
    assert code["plugin"] == "code" and code["rank"] == 16 and code["dataset"] == "code-snippets"


def test_mole_trains_it_on_a_tiny_model(register_plugin, mole_cli, tiny_registry):
    register_plugin(mole_expert_code, "code")
    result = mole_cli(
        "train-expert", "code", "--registry", str(tiny_registry.root),
        "--max-steps", "1", "--batch-size", "2", "--grad-accum", "1", "--max-length", "64", "--lr", "1e-3",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    entry = tiny_registry.get_expert("code")
    assert entry.plugin == "code" and entry.rank == 16 and entry.training.dataset == "code-snippets"
