"""Routed vs best single expert vs oracle: computed right on a constructed case, and on a tiny registry."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from mole_core import Registry, TextExample
from mole_core.evaluation import evaluate
from mole_core.oracle import ItemLoss, routing_gain
from mole_core.routing import Router


def items(*losses: tuple[float, int]) -> list[ItemLoss | None]:
    return [ItemLoss(nll, tokens) for nll, tokens in losses]


def test_the_table_on_a_constructed_case() -> None:
    sets = {
        "math": [TextExample(prompt="2+2?", completion="4"), TextExample(prompt="3*3?", completion="9")],
        "facts": [TextExample(completion="Paris is the capital of France.")],
    }
    # NLL sums and token counts per item: a is good at math item 0 and facts, b at math item 1
    scored = {
        "base": {"math": items((4, 2), (4, 2)), "facts": items((6, 3))},
        "a": {"math": items((1, 2), (5, 2)), "facts": items((3, 3))},
        "b": {"math": items((3, 2), (2, 2)), "facts": items((9, 3))},
    }
    routes = {"2+2?": "b", "3*3?": "b", "Paris is the capital of France.": "a"}
    gain = routing_gain(scored, sets, ["a", "b"], lambda queries: [routes[q] for q in queries])
    assert gain.columns == ["base", "a", "b", "routed", "oracle"]
    math, facts, overall = gain.rows
    assert (math.domain, facts.domain, overall.domain) == ("math", "facts", "overall")
    assert math.loss == {"base": 2.0, "a": 1.5, "b": 1.25, "routed": 1.25, "oracle": 0.75}
    assert math.oracle_picks == {"a": 1, "b": 1} and math.routed_to == {"b": 2}
    assert facts.loss == {"base": 2.0, "a": 1.0, "b": 3.0, "routed": 1.0, "oracle": 1.0}
    assert overall.items == 3 and overall.routed_to == {"b": 2, "a": 1}
    assert overall.loss == pytest.approx(
        {"base": 2.0, "a": 9 / 7, "b": 2.0, "routed": 8 / 7, "oracle": 6 / 7}, abs=1e-5
    )
    assert gain.best_single == "a"
    for row in gain.rows:  # the oracle is never worse than any single expert
        assert all(row.loss["oracle"] <= row.loss[e] for e in ("a", "b"))


def test_items_a_model_could_not_score_are_left_out_for_every_column() -> None:
    sets = {"d": [TextExample(prompt="q1", completion="x"), TextExample(prompt="q2", completion="y")]}
    scored = {"base": {"d": [ItemLoss(2, 1), None]}, "a": {"d": items((1, 1), (5, 1))}}
    gain = routing_gain(scored, sets, ["a"])
    assert gain.columns == ["base", "a", "oracle"] and not gain.routed
    assert gain.rows[0].items == 1 and gain.rows[0].loss == {"base": 2.0, "a": 1.0, "oracle": 1.0}


class ByPrompt(Router):
    """``reasoning`` for queries with a digit, ``factoid`` otherwise."""

    kind = "by-prompt"

    def predict(self, queries: Sequence[str]) -> list[list[float]]:
        return [
            [0.9 if (label == "reasoning") == any(c.isdigit() for c in q) else 0.1 for label in self.labels]
            for q in queries
        ]

    def save(self, directory: Path) -> None:  # pragma: no cover
        raise NotImplementedError


def test_mole_eval_reports_routed_and_oracle_next_to_each_expert(two_experts: Registry) -> None:
    from mole_core.commands.train import format_report

    report = evaluate(
        two_experts, n_texts=3, n_answers=0, max_length=64, router=ByPrompt(["reasoning", "factoid"])
    )
    gain, table = report.gain, report.losses
    assert gain is not None and table is not None and gain.routed
    assert [r.domain for r in gain.rows] == [
        "gsm8k",
        "wikitext-factoid",
        "overall",
    ]  # variants are not domains
    assert gain.columns == ["base", "reasoning", "factoid", "routed", "oracle"]
    for row in gain.rows[:-1]:  # each single model's column is the loss table's cell on the same items
        assert row.items == 3
        for model in ("base", "reasoning", "factoid"):
            assert row.loss[model] == pytest.approx(table.rows[model][row.domain].loss, abs=1e-4)
    for row in gain.rows:
        assert row.loss["oracle"] <= min(row.loss["reasoning"], row.loss["factoid"]) + 1e-9
    overall = gain.rows[-1]
    assert sum(overall.routed_to.values()) == 6 and sum(overall.oracle_picks.values()) == 6
    assert gain.best_single == min(("reasoning", "factoid"), key=lambda e: overall.loss[e])
    text = "\n".join(format_report(report))
    assert (
        "routed vs best single expert vs oracle" in text
        and f"best single expert overall: {gain.best_single}" in text
    )
