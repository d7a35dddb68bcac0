"""``mole train-router`` end to end on a tiny registry of the paper's four experts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mole_core import Registry
from mole_core.adapters import sha256_file
from mole_core.routing import load_router

PAPER = ["reasoning", "knowledge", "qa", "factoid"]


@pytest.fixture
def paper_registry(registry: Registry, adapter_factory) -> Registry:  # noqa: ANN001
    for seed, name in enumerate(PAPER, 1):
        registry.add_expert(name, adapter_factory(rank=4, seed=seed))
    return registry


@pytest.fixture
def eval_file(tmp_path: Path) -> Path:
    path = tmp_path / "real.jsonl"
    rows = [
        {"query": "If 3 pens cost $4.50, how much do 7 pens cost?", "expert": "reasoning"},
        {"query": "Is nuclear power the answer to climate change?", "expert": "knowledge"},
        {"query": "Why does bread go mouldy?", "expert": "qa"},
        {"query": "who painted the sistine chapel", "expert": "factoid"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_train_router_json_records_the_router(cli, paper_registry: Registry, eval_file: Path) -> None:  # noqa: ANN001
    result = cli(
        "train-router", "--router", "bert-tiny", "--size", "120", "--epochs", "2", "--batch-size", "16",
        "--eval-file", str(eval_file), "--json", "--registry", str(paper_registry.root),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["kind"] == "bert-tiny" and report["labels"] == [*PAPER, "base"]
    assert report["train_size"] == 120 and report["unique_train"] == 120
    held = report["held_out"]
    assert held["n"] == report["test_size"] > 0
    assert sum(map(sum, held["confusion"])) == held["n"]
    assert [e["name"] for e in report["evaluations"]] == ["real.jsonl"]
    assert report["evaluations"][0]["n"] == 4

    entry = paper_registry.load().router
    assert entry is not None and entry.name == "bert-tiny" and entry.labels == [*PAPER, "base"]
    weights = paper_registry.root / entry.path / "model.safetensors"
    assert entry.sha256 == report["sha256"] == sha256_file(weights)
    assert entry.metrics["held_out_accuracy"] == pytest.approx(held["accuracy"], abs=1e-4)
    assert not [
        p for p in (paper_registry.root / "routers").iterdir() if p.name.startswith(".")
    ]  # no staging left
    router = load_router(paper_registry)
    assert router.kind == "bert-tiny" and router.labels == [*PAPER, "base"]


def test_train_router_text_output_shows_the_confusion_matrix(cli, paper_registry: Registry) -> None:  # noqa: ANN001
    result = cli(
        "train-router", "--router", "embedding", "--size", "80", "--registry", str(paper_registry.root)
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "held-out templates: accuracy" in out
    header = next(line for line in out.splitlines() if line.startswith("expected \\ predicted"))
    assert header.split()[3:7] == PAPER
    assert "recorded in mole.toml" in out
    assert paper_registry.load().router.name == "embedding"


def test_retraining_after_adding_an_expert_routes_to_it(
    cli, paper_registry: Registry, adapter_factory
) -> None:  # noqa: ANN001
    examples = [f"Translate sentence number {i} into French." for i in range(12)]
    paper_registry.add_expert("translate", adapter_factory(rank=4, seed=11), examples=examples)
    result = cli(
        "train-router", "--router", "embedding", "--size", "100", "--json", "--registry", str(paper_registry.root)
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["labels"] == [*PAPER, "translate", "base"]
    router = load_router(paper_registry)
    assert router.route(["Translate this sentence into French please."])[0].expert == "translate"


def test_one_expert_is_refused_with_one_line(cli, registry: Registry, adapter_factory) -> None:  # noqa: ANN001
    registry.add_expert("qa", adapter_factory(rank=4, seed=1))
    result = cli("train-router", "--router", "bert-tiny", "--size", "40", "--registry", str(registry.root))
    assert result.exit_code != 0
    assert result.stderr.strip().count("\n") == 0 and "at least two registered experts" in result.stderr
    assert "Traceback" not in result.output


def test_bad_eval_file_fails_before_training_naming_the_line(
    cli,
    paper_registry: Registry,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "Why?", "expert": "qa"}\n{"query": "Who?", "expert": "nobody"}\nnot json\n')
    result = cli(
        "train-router", "--router", "bert-tiny", "--size", "40", "--eval-file", str(bad),
        "--registry", str(paper_registry.root),
    )  # fmt: skip
    assert result.exit_code != 0
    assert "bad.jsonl:2" in result.stderr and "'nobody'" in result.stderr
    assert paper_registry.load().router is None


def test_unknown_router_kind_is_refused(cli, paper_registry: Registry) -> None:  # noqa: ANN001
    result = cli("train-router", "--router", "gpt-router", "--registry", str(paper_registry.root))
    assert result.exit_code != 0
    assert "no router kind 'gpt-router'" in result.stderr and "bert-tiny" in result.stderr


def test_train_router_learns_base_from_negatives_and_records_the_threshold(
    cli, paper_registry: Registry, tmp_path: Path
) -> None:  # noqa: ANN001
    negatives = tmp_path / "offtopic.txt"
    negatives.write_text(
        '# my own off-topic requests\nPlan a picnic for ten people.\n{"query": "Sing me a lullaby."}\n'
    )
    result = cli(
        "train-router", "--router", "embedding", "--size", "200", "--negatives", str(negatives),
        "--json", "--registry", str(paper_registry.root),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["labels"] == [*PAPER, "base"]
    calibration = report["calibration"]
    assert calibration["chosen_by"] == "held-out" and calibration["negatives_held_out"] > 0
    entry = paper_registry.load().router
    assert entry.labels == [*PAPER, "base"]
    assert (
        entry.min_confidence == calibration["min_confidence"]
        and entry.temperature == calibration["temperature"]
    )
    assert 0 < entry.min_confidence < 1 and entry.temperature > 0
    router = load_router(paper_registry)
    assert router.min_confidence == entry.min_confidence
    route = router.route(["Give me a recipe for banana bread with walnuts."])[0]
    assert route.expert == "base" and route.reason


def test_min_confidence_override_and_no_negatives(cli, paper_registry: Registry) -> None:  # noqa: ANN001
    result = cli(
        "train-router", "--router", "embedding", "--size", "120", "--min-confidence", "0",
        "--no-bundled-negatives", "--registry", str(paper_registry.root),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "min_confidence 0.00 (set by --min-confidence); fallback off" in result.output
    entry = paper_registry.load().router
    assert entry.labels == PAPER and entry.min_confidence == 0.0
    bad = cli("train-router", "--min-confidence", "1.5", "--registry", str(paper_registry.root))
    assert bad.exit_code != 0 and "1.5" in bad.output
