"""Calibration error and the accuracy-vs-coverage table of a routed labelled set."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

COVERAGES = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)


class CoverageRow(BaseModel):
    coverage: float
    threshold: float
    accuracy: float
    n: int


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> float:
    """ECE: the gap between confidence and accuracy, averaged over equal-width confidence bins."""
    n = len(confidences)
    if n == 0:
        return 0.0
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, c in enumerate(confidences) if (lo < c <= hi) or (b == 0 and c == 0)]
        if idx:
            conf = sum(confidences[i] for i in idx) / len(idx)
            acc = sum(correct[i] for i in idx) / len(idx)
            total += len(idx) / n * abs(conf - acc)
    return round(total, 4)


def coverage_table(confidences: Sequence[float], correct: Sequence[bool]) -> list[CoverageRow]:
    """Accuracy on the most confident share of queries, for each coverage in :data:`COVERAGES`."""
    order = sorted(range(len(confidences)), key=lambda i: -confidences[i])
    rows = []
    for coverage in COVERAGES:
        k = max(1, round(coverage * len(order))) if order else 0
        kept = order[:k]
        rows.append(
            CoverageRow(
                coverage=coverage,
                threshold=round(confidences[kept[-1]], 4) if kept else 0.0,
                accuracy=round(sum(correct[i] for i in kept) / len(kept), 4) if kept else 0.0,
                n=len(kept),
            )
        )
    return rows
