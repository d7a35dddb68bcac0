"""Prompt templates: how an expert frames its queries, recorded in the manifest, applied in training,
serving and evaluation, carried over the Hub (see test_hub)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from mole_core import MoleError, Registry
from mole_core.datasets import framed
from mole_core.routing import Router
from mole_core.runtime import MoLE
from mole_core.specs import ExpertSpec, LoraDefaults, TextExample, frame

TEMPLATE = "Answer in one word.\n{query}"


def test_frame_is_plain_replacement_braces_and_all() -> None:
    assert frame("Q: {query} {x}", "a {b} c") == "Q: a {b} c {x}"
    examples = [TextExample(prompt="2+2?", completion="4"), TextExample(completion="raw text")]
    assert [e.prompt for e in framed(examples, "Solve: {query}")] == ["Solve: 2+2?", ""]
    assert framed(examples, "{query}") == examples


def test_registry_records_and_checks_the_template(registry: Registry, adapter_factory) -> None:
    entry = registry.add_expert("alpha", adapter_factory(rank=4), prompt_template=TEMPLATE)
    assert entry.prompt_template == TEMPLATE == registry.get_expert("alpha").prompt_template
    assert registry.add_expert("beta", adapter_factory(rank=2)).prompt_template == "{query}"
    before = registry.manifest_path.read_bytes()
    with pytest.raises(MoleError, match=r"must contain \{query\}"):
        registry.add_expert("gamma", adapter_factory(rank=2), prompt_template="no slot here")
    assert registry.manifest_path.read_bytes() == before


def test_add_expert_cli_option_and_one_line_refusal(cli, registry: Registry, adapter_factory) -> None:
    reg = str(registry.root)
    ok = cli(
        "add-expert",
        "alpha",
        "--adapter",
        str(adapter_factory(rank=4)),
        "--prompt-template",
        TEMPLATE,
        "--json",
        "--registry",
        reg,
    )
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["prompt_template"] == TEMPLATE
    bad = cli(
        "add-expert",
        "beta",
        "--adapter",
        str(adapter_factory(rank=2)),
        "--prompt-template",
        "oops",
        "--registry",
        reg,
    )
    assert bad.exit_code != 0 and bad.output.strip().count("\n") == 0 and "{query}" in bad.output
    assert registry.load().expert("beta") is None


def test_plugin_spec_template_is_used_unless_given(
    registry: Registry, adapter_factory, register_plugin
) -> None:
    from mole_core.experts import add_expert
    from mole_core.hookspecs import hookimpl

    class Plugin:
        @hookimpl
        def register_experts(self, register):  # noqa: ANN001, ANN201
            register(
                ExpertSpec(
                    name="poet", task="Verse", lora=LoraDefaults(rank=4), prompt_template="Poem: {query}"
                )
            )

    register_plugin(Plugin(), "poet-plugin")
    assert add_expert(registry, "poet", adapter=adapter_factory(rank=4)).prompt_template == "Poem: {query}"
    given = add_expert(
        registry, "poet", adapter=adapter_factory(rank=4), prompt_template="Verse: {query}", replace=True
    )
    assert given.prompt_template == "Verse: {query}"


class FirstLabel(Router):
    kind = "first"

    def predict(self, queries: Sequence[str]) -> list[list[float]]:
        return [[0.7, 0.3] for _ in queries]

    def save(self, directory: Path) -> None:  # pragma: no cover
        raise NotImplementedError


def test_generation_frames_each_row_with_its_experts_template(registry: Registry, adapter_factory) -> None:
    registry.add_expert("alpha", adapter_factory(rank=4), prompt_template=TEMPLATE)
    registry.add_expert("beta", adapter_factory(rank=2, seed=2), prompt_template="B says: {query}")
    mole = MoLE.from_registry(registry.root, router=FirstLabel(["alpha", "beta"]), device="cpu")
    seen: list[list[str]] = []
    original = mole.prompts
    mole.prompts = lambda *a, **kw: seen.append(original(*a, **kw)) or seen[-1]  # type: ignore[method-assign]

    routed = mole.generate(["hello"], max_new_tokens=2)[0]
    assert routed.expert == "alpha" and "Answer in one word.\nhello" in seen[-1][0]
    mole.generate(["hello"], expert="beta", max_new_tokens=2)
    assert "B says: hello" in seen[-1][0]
    mole.generate(["hello"], expert="base", max_new_tokens=2)
    assert "Answer" not in seen[-1][0] and "B says" not in seen[-1][0]
    mole.generate(["hello"], top_k=2, max_new_tokens=2)  # a blend is framed as its heaviest expert
    assert "Answer in one word.\nhello" in seen[-1][0]


def test_training_frames_prompts_and_records_the_template(registry: Registry, tmp_path: Path) -> None:
    from mole_core import training
    from mole_core.training import run  # the run encodes the examples

    data = tmp_path / "d.jsonl"
    data.write_text(
        "\n".join(json.dumps({"prompt": f"{i}+{i}?", "completion": str(2 * i)}) for i in range(6))
    )
    settings = training.build_settings(overrides={
        "data": data, "max_steps": 1, "batch_size": 2, "grad_accum": 1, "warmup": 0, "max_length": 48, "rank": 2,
        "lr": 1e-3, "prompt_template": "Add: {query}",
    })  # fmt: skip
    encoded: list[list[TextExample]] = []
    real = run.encode_examples

    def spy(tokenizer, examples, max_length):  # noqa: ANN001, ANN202
        encoded.append(list(examples))
        return real(tokenizer, examples, max_length)

    run.encode_examples = spy  # type: ignore[assignment]
    try:
        result = training.train_expert(registry, "adder", settings)
    finally:
        run.encode_examples = real  # type: ignore[assignment]
    assert encoded[0][0].prompt == "Add: 0+0?"
    assert result.entry.prompt_template == "Add: {query}" == result.settings["prompt_template"]
    with pytest.raises(training.ConfigError, match="prompt_template"):
        training.build_settings(overrides={"prompt_template": "no slot"})


def test_loss_table_scores_each_expert_on_framed_prompts(monkeypatch: pytest.MonkeyPatch) -> None:
    from mole_core import evaluation

    seen: dict[str, list[str]] = {}
    current: list[str] = []

    def fake_losses(model, tokenizer, examples, max_length):  # noqa: ANN001, ANN202
        seen.setdefault(current[-1], []).extend(e.prompt for e in examples)
        return [None] * len(examples)

    monkeypatch.setattr(evaluation, "item_losses", fake_losses)
    monkeypatch.setattr(evaluation, "active_adapter", lambda model, name: current.append(name) or _null())
    sets = {"math": [TextExample(prompt="1+1?", completion="2")]}
    evaluation.score_items(None, None, ["alpha"], sets, templates={"alpha": "Math: {query}"})
    assert seen == {"base": ["1+1?"], "alpha": ["Math: 1+1?"]}


def _null():  # noqa: ANN202
    from contextlib import nullcontext

    return nullcontext()
