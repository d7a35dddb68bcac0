"""Calibrated scores, the fallback rule, threshold choice and the routing metrics, on hand-made numbers."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from mole_core.blending import route_weights
from mole_core.routing import (
    BASE,
    Route,
    Router,
    calibrate,
    decide,
    evaluate_routing,
    fit_temperature,
    read_labelled_file,
)
from mole_core.routing.calibrate import choose_min_confidence
from mole_core.routing.metrics import coverage_table, expected_calibration_error


class TableRouter(Router):
    """Returns fixed probability rows looked up by query."""

    kind = "table"

    def __init__(self, labels: Sequence[str], rows: dict[str, list[float]]) -> None:
        super().__init__(labels)
        self.rows = rows

    def predict(self, queries: Sequence[str]) -> list[list[float]]:
        return [self.rows[q] for q in queries]

    def save(self, directory: Path) -> None:  # pragma: no cover
        raise NotImplementedError


def test_calibrate_is_softmax_of_scaled_log_probabilities() -> None:
    row = [0.7, 0.2, 0.1]
    assert calibrate([row], 1.0) == [row]
    soft = calibrate([row], 2.0)[0]
    expected = [math.sqrt(p) / sum(math.sqrt(q) for q in row) for p in row]
    assert soft == pytest.approx(expected)
    assert max(calibrate([row], 0.5)[0]) > 0.7 > max(soft)  # T < 1 sharpens, T > 1 softens
    assert sum(soft) == pytest.approx(1.0)


def test_decide_falls_back_below_min_confidence_and_ignores_the_base_output() -> None:
    scores = {"qa": 0.4, "factoid": 0.25, BASE: 0.35}
    assert decide(scores, 0.0).expert == "qa"  # 0 never falls back, even when base is likely
    sure = decide(scores, 0.3)
    assert sure.expert == "qa" and sure.confidence == 0.4 and sure.reason is None
    unsure = decide(scores, 0.5)
    assert unsure.expert == BASE and unsure.confidence == 0.4
    assert "qa 0.40" in unsure.reason and "0.50" in unsure.reason


def test_fit_temperature_recovers_over_confidence() -> None:
    """Rows sharpened by T=1/3 from calibrated ones: fitting on their outcomes finds T near 3."""
    rng = random.Random(0)
    rows, targets = [], []
    for _ in range(3000):
        p = rng.uniform(0.34, 0.95)
        true = [p, (1 - p) / 2, (1 - p) / 2]
        rows.append(calibrate([true], 1 / 3)[0])
        targets.append(0 if rng.random() < p else rng.choice([1, 2]))
    assert fit_temperature(rows, targets) == pytest.approx(3.0, rel=0.15)
    assert fit_temperature([], []) == 1.0


def test_router_route_applies_calibration_and_threshold() -> None:
    router = TableRouter(["a", "b", BASE], {"sure": [0.9, 0.05, 0.05], "offtopic": [0.2, 0.1, 0.7]})
    router.min_confidence = 0.5
    sure, off = router.route(["sure", "offtopic"])
    assert sure.expert == "a" and sure.reason is None and set(sure.scores) == {"a", "b", BASE}
    assert (
        off.expert == BASE and off.scores[BASE] == pytest.approx(0.7) and "below" not in (off.reason or "x")
    )
    assert "min_confidence 0.50" in off.reason
    router.calibration_temperature = 4.0
    assert router.route(["sure"])[0].confidence < 0.9  # softened
    router.min_confidence = 0.0
    assert [r.expert for r in router.route(["sure", "offtopic"])] == ["a", "a"]


def test_route_weights_send_a_fallback_to_the_bare_base_and_never_blend_base() -> None:
    base_route = Route(query="q", expert=BASE, scores={"a": 0.3, BASE: 0.7}, confidence=0.3, reason="r")
    assert route_weights(base_route, 3, ["a", "b"]) == {}
    route = Route(query="q", expert="a", scores={"a": 0.5, BASE: 0.3, "b": 0.2}, confidence=0.5)
    assert route_weights(route, 2, ["a", "b"]) == {
        "a": pytest.approx(0.71, abs=0.01),
        "b": pytest.approx(0.29, abs=0.01),
    }


def test_choose_min_confidence_keeps_accuracy_and_sends_negatives_to_base() -> None:
    in_domain = [
        ({"a": c, "b": 1 - c}, "a") for c in (0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.52)
    ]
    negatives = [{"a": c, "b": c / 2, BASE: 1 - 1.5 * c} for c in (0.3, 0.35, 0.4, 0.45, 0.5, 0.62)]
    choice = choose_min_confidence(in_domain, negatives, max_accuracy_drop=0.0)
    assert choice.min_confidence == pytest.approx(0.52)  # every in-domain query kept
    assert choice.accuracy_with == choice.accuracy_without == 1.0
    assert choice.negatives_to_base == pytest.approx(5 / 6, abs=1e-3)  # all but the 0.62 one
    looser = choose_min_confidence(in_domain, negatives, max_accuracy_drop=0.1)
    assert looser.min_confidence > choice.min_confidence and looser.accuracy_with == pytest.approx(0.9)


def test_ece_and_coverage_table() -> None:
    assert expected_calibration_error([0.9] * 10, [True] * 9 + [False]) == pytest.approx(0.0)
    assert expected_calibration_error([1.0] * 4, [True, False, True, False]) == pytest.approx(0.5)
    rows = coverage_table([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05], [True] * 5 + [False] * 5)
    by = {r.coverage: r for r in rows}
    assert by[1.0].accuracy == 0.5 and by[1.0].n == 10
    assert by[0.5].accuracy == 1.0 and by[0.5].threshold == 0.5


def test_evaluate_routing_reports_fallback_ece_and_coverage(tmp_path: Path) -> None:
    router = TableRouter(
        ["a", "b", BASE],
        {"x": [0.9, 0.05, 0.05], "y": [0.2, 0.7, 0.1], "z": [0.5, 0.45, 0.05], "o": [0.1, 0.1, 0.8]},
    )
    router.min_confidence = 0.55
    path = tmp_path / "labelled.jsonl"
    rows = [("x", "a"), ("y", "b"), ("z", "b"), ("o", BASE)]
    path.write_text("".join(json.dumps({"query": q, "expert": e}) + "\n" for q, e in rows))
    labelled = read_labelled_file(path, labels=["a", "b"])  # 'base' is always allowed
    report = evaluate_routing(router, [r.query for r in labelled], [r.expert for r in labelled])
    assert report.correct == 3 and report.fallback_rate == 0.5  # z (0.5 < 0.55) and o went to base
    assert report.recall == {"a": 1.0, "b": 0.5, BASE: 1.0}
    assert report.ece is not None and 0 <= report.ece <= 1
    assert report.coverage[0].coverage == 1.0 and report.coverage[0].n == 3
    text = "\n".join(report.lines())
    assert "to base" in text and "ECE" in text and "coverage" in text


def test_threshold_is_only_as_high_as_the_negatives_need() -> None:
    """Off-topic requests with near-zero expert scores need a tiny threshold: confident-enough in-domain
    queries (0.3-0.95) all stay with their expert even though the held-out split would allow more."""
    in_domain = [({"a": c, "b": 1 - c}, "a") for c in (0.95, 0.9, 0.8, 0.6, 0.5, 0.4, 0.35, 0.3)]
    in_domain += [({"a": 0.2, "b": 0.8}, "a")]  # a mistake at any threshold: dropping it costs nothing
    negatives = [
        {"a": c, "b": c / 2, BASE: 1 - 1.5 * c}
        for c in (0.01, 0.02, 0.03, 0.05, 0.04, 0.02, 0.01, 0.03, 0.02, 0.25)
    ]
    choice = choose_min_confidence(in_domain, negatives, max_accuracy_drop=0.5, negatives_target=0.9)
    assert choice.min_confidence == pytest.approx(0.0501)
    assert choice.negatives_to_base == 0.9 and choice.accuracy_with == choice.accuracy_without
