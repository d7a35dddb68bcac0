"""``mole eval`` on a tiny registry: the loss table's shape and meaning, GSM8K scoring, routing, JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pytest
from mole_plugins.answers import predicted_answer, reference_answer, same_number

from mole_core import MoleError, Registry, TrainingRecord
from mole_core.evaluation import BASE, completion_nll, evaluate
from mole_core.plugins import get_dataset_spec
from mole_core.routing import Router

NO_CALC = "gsm8k-nocalc"  # the GSM8K plugin's loss variant: answers without calculator annotations

N_TEXTS = 3


class AllTo(Router):
    """Routes every query to one expert (deterministic, no model)."""

    kind = "all-to"

    def __init__(self, labels: Sequence[str], target: str) -> None:
        super().__init__(labels)
        self.target = target

    def predict(self, queries: Sequence[str]) -> list[list[float]]:
        return [
            [0.9 if label == self.target else 0.1 / (len(self.labels) - 1) for label in self.labels]
            for _ in queries
        ]

    def save(self, directory: Path) -> None:  # pragma: no cover
        raise NotImplementedError


def test_loss_table_has_base_and_every_expert_on_every_domain(two_experts: Registry) -> None:
    report = evaluate(two_experts, n_texts=N_TEXTS, n_gsm8k=0, max_length=64)
    table = report.losses
    assert table is not None and report.answers == {} and report.routing is None
    assert table.columns == ["gsm8k", NO_CALC, "wikitext-factoid"]
    assert list(table.rows) == [BASE, "reasoning", "factoid"]
    assert table.texts == dict.fromkeys(table.columns, N_TEXTS)
    assert table.owners == {"gsm8k": ["reasoning"], NO_CALC: ["reasoning"], "wikitext-factoid": ["factoid"]}
    for column in table.columns:
        cells = {model: table.rows[model][column] for model in table.rows}
        assert all(math.isfinite(c.loss) and c.tokens > 0 for c in cells.values())
        assert all(c.perplexity == pytest.approx(math.exp(c.loss), rel=1e-3) for c in cells.values())
        assert table.best[column] == min(cells, key=lambda m: cells[m].loss)
        assert len({round(c.loss, 4) for c in cells.values()}) == 3  # each row really used its own weights
    assert (
        table.rows[BASE]["gsm8k"].loss != table.rows[BASE][NO_CALC].loss
    )  # other texts: annotations stripped
    gain = table.own_gain["reasoning"]["gsm8k"]
    assert gain == pytest.approx(
        table.rows["reasoning"]["gsm8k"].loss / table.rows[BASE]["gsm8k"].loss - 1, abs=1e-4
    )
    assert set(table.own_gain) == {"reasoning", "factoid"} and set(table.own_gain["factoid"]) == {
        "wikitext-factoid"
    }


def test_rows_match_the_bare_base_and_each_adapter_alone(two_experts: Registry, tiny_base: Path) -> None:
    from peft import PeftModel

    from mole_core import basemodel

    report = evaluate(two_experts, n_texts=N_TEXTS, n_gsm8k=0, max_length=64)
    assert report.losses is not None
    manifest = two_experts.load()
    tokenizer = basemodel.load_tokenizer(manifest.base)
    examples = get_dataset_spec("gsm8k").load("test", limit=N_TEXTS, offline=True)
    bare = basemodel.load_model(manifest.base)
    assert completion_nll(bare, tokenizer, examples, 64).loss == pytest.approx(
        report.losses.rows[BASE]["gsm8k"].loss, abs=1e-4
    )
    alone = PeftModel.from_pretrained(bare, str(two_experts.expert_dir("factoid")))
    expected = completion_nll(alone, tokenizer, examples, 64).loss
    assert expected == pytest.approx(report.losses.rows["factoid"]["gsm8k"].loss, abs=1e-4)


def test_gsm8k_exact_match_for_base_and_routed(two_experts: Registry) -> None:
    router = AllTo(["reasoning", "factoid"], "reasoning")
    report = evaluate(two_experts, n_texts=0, n_gsm8k=2, max_new_tokens=4, router=router)
    g = report.answers["gsm8k"]
    assert set(report.answers) == {"gsm8k"} and g.dataset == "gsm8k" and report.losses is None
    assert g.n == 2 and len(g.items) == 2
    assert g.routed_to == {"reasoning": 2} and all(i.routed_expert == "reasoning" for i in g.items)
    problems = get_dataset_spec("gsm8k").load("test", limit=2, offline=True)
    assert [i.reference for i in g.items] == [reference_answer(p.completion) for p in problems]
    assert g.base_accuracy == sum(same_number(i.base_answer, i.reference) for i in g.items) / 2
    assert g.routed_accuracy is not None and 0.0 <= g.routed_accuracy <= 1.0


def test_gsm8k_progress_has_one_total_per_mode(two_experts: Registry) -> None:
    """Each mode is its own bar: it counts its own problems and ends exactly at its own total."""
    calls: dict[str, list[tuple[int, int]]] = {}

    def progress(stage: str, done: int, total: int, info: dict | None = None) -> None:
        calls.setdefault(stage, []).append((done, total))

    router = AllTo(["reasoning", "factoid"], "reasoning")
    evaluate(two_experts, n_texts=0, n_gsm8k=3, max_new_tokens=2, router=router, progress=progress)
    gsm = {stage: seen for stage, seen in calls.items() if stage.startswith("gsm8k")}
    assert set(gsm) == {"gsm8k answers (base)", "gsm8k answers (routed)"}
    for seen in gsm.values():
        assert {total for _, total in seen} == {3}
        assert seen[-1][0] == 3 and all(done <= total for done, total in seen)


def test_an_already_loaded_system_is_reused(two_experts: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    from mole_core import basemodel
    from mole_core.runtime import MoLE

    system = MoLE.from_registry(two_experts.root, router=AllTo(["reasoning", "factoid"], "factoid"))

    def no_second_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("the base model was loaded again")

    monkeypatch.setattr(basemodel, "load_model", no_second_load)
    report = evaluate(two_experts, n_texts=2, n_gsm8k=1, max_length=64, max_new_tokens=2, system=system)
    assert report.losses is not None and list(report.losses.rows) == [BASE, "reasoning", "factoid"]
    assert report.answers["gsm8k"].routed_to == {"factoid": 1}


def test_routing_accuracy_and_confusion_on_labelled_file(two_experts: Registry, tmp_path: Path) -> None:
    path = tmp_path / "labelled.jsonl"
    rows = [("How many apples?", "reasoning"), ("When was X born?", "factoid"), ("Who wrote Y?", "factoid")]
    path.write_text("\n".join(json.dumps({"query": q, "expert": e}) for q, e in rows) + "\n")
    report = evaluate(
        two_experts, labelled=path, n_texts=0, n_gsm8k=0, router=AllTo(["reasoning", "factoid"], "factoid")
    )
    assert report.routing is not None
    assert report.routing.accuracy == pytest.approx(2 / 3)
    assert report.routing.labels == ["reasoning", "factoid"]
    assert report.routing.confusion == [[0, 1], [0, 2]]


def test_expert_trained_on_a_local_file_gets_no_column(registry: Registry, adapter_factory) -> None:  # noqa: ANN001
    registry.add_expert(
        "mine", adapter_factory(rank=2, seed=3), training=TrainingRecord(dataset="/data/mine.jsonl")
    )
    registry.add_expert("factoid", adapter_factory(rank=2, seed=2))
    report = evaluate(registry, n_texts=2, n_gsm8k=0, max_length=64)
    assert report.losses is not None and report.losses.columns == ["wikitext-factoid"]
    assert list(report.losses.rows) == [BASE, "mine", "factoid"]
    assert any("mine" in note and "no held-out split" in note for note in report.notes)


def test_eval_cli_table_and_json(cli, two_experts: Registry) -> None:  # noqa: ANN001
    args = [
        "eval",
        "--registry",
        str(two_experts.root),
        "--n-texts",
        "2",
        "--n-gsm8k",
        "0",
        "--max-length",
        "64",
    ]
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["losses"]["columns"] == ["gsm8k", NO_CALC, "wikitext-factoid"]
    assert set(data["losses"]["rows"]) == {BASE, "reasoning", "factoid"}
    text = cli(*args)
    assert text.exit_code == 0
    lines = text.stdout.splitlines()
    header = next(line for line in lines if line.startswith("model"))
    assert header.split() == ["model", "gsm8k", NO_CALC, "wikitext-factoid"]
    body = [line for line in lines if line.split()[:1] in (["base"], ["reasoning"], ["factoid"])]
    assert len(body) == 3
    assert sum(line.count("*") for line in body) == 3  # one best per column
    assert any(line.startswith("reasoning") and "[" in line for line in body)  # own domain marked


def test_eval_bad_input_is_one_line_error(cli, two_experts: Registry, tmp_path: Path) -> None:  # noqa: ANN001
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "q", "expert": "nosuch"}\n')
    result = cli(
        "eval", "--registry", str(two_experts.root), "--file", str(bad), "--n-texts", "0", "--n-gsm8k", "0"
    )
    assert result.exit_code != 0 and f"{bad}:1" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    with pytest.raises(MoleError, match="n-texts"):
        evaluate(two_experts, n_texts=-1)


@pytest.mark.parametrize(
    ("generated", "reference", "ok"),
    [
        ("She sold 48 + 24 = 72 clips.\n#### 72", "72", True),
        ("The answer is 1,250.", "1250", True),
        ("So the total is $18.00.", "18", True),
        ("#### 5 apples, maybe 6", "5", True),
        ("I think it is 7", "8", False),
        ("no number at all", "3", False),
        ("It is -3.", "-3", True),
    ],
)
def test_answer_extraction(generated: str, reference: str, ok: bool) -> None:
    assert same_number(predicted_answer(generated), reference) is ok


def test_reference_answer_is_after_the_hashes() -> None:
    assert reference_answer("48/2 = <<48/2=24>>24\n#### 1,072") == "1072"
