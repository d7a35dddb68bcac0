"""How well a router routes: accuracy, confusion matrix and recall against labelled queries."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, computed_field

from ..errors import MoleError
from ..jsonl import objects, read_text
from .base import Route, Router
from .calibrate import BASE
from .metrics import CoverageRow, coverage_table, expected_calibration_error


class LabelledQuery(BaseModel):
    """A query and the expert that should answer it."""

    query: str
    expert: str


class Mistake(BaseModel):
    query: str
    expected: str
    predicted: str
    confidence: float


class RoutingReport(BaseModel):
    """Accuracy, confusion matrix (rows: expected, columns: routed to), per-expert recall, the fallback
    rate, calibration error and accuracy against coverage."""

    name: str = ""
    n: int
    correct: int
    accuracy: float
    labels: list[str] = Field(description="Row and column order of the confusion matrix.")
    confusion: list[list[int]]
    recall: dict[str, float | None]
    fallback_rate: float = Field(default=0.0, description="Share of queries sent to the base model.")
    ece: float | None = Field(default=None, description="Expected calibration error of the top score.")
    coverage: list[CoverageRow] = Field(
        default_factory=list, description="Accuracy on the most confident share of in-domain queries."
    )
    mistakes: list[Mistake] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def support(self) -> dict[str, int]:
        """Queries per expected expert (the confusion matrix's row sums)."""
        return {label: sum(row) for label, row in zip(self.labels, self.confusion, strict=True)}

    @computed_field  # type: ignore[prop-decorator]
    @property
    def untested(self) -> list[str]:
        """Experts with no query here: the accuracy says nothing about them (``base`` is no expert)."""
        return [label for label, n in self.support.items() if n == 0 and label != BASE]

    def table(self) -> str:
        """The confusion matrix as aligned text, one row per expected expert, with its recall."""
        corner = "expected \\ predicted"
        first = max(len(corner), *(len(label) for label in self.labels)) + 2
        width = max(7, *(len(label) for label in self.labels)) + 2
        lines = [
            corner.ljust(first) + "".join(label.rjust(width) for label in self.labels) + "recall".rjust(9)
        ]
        lines[0] += "n".rjust(7)
        for label, row in zip(self.labels, self.confusion, strict=True):
            recall = self.recall.get(label)
            shown = "-" if recall is None else f"{recall:.3f}"
            cells = "".join(str(v).rjust(width) for v in row)
            lines.append(label.ljust(first) + cells + shown.rjust(9) + str(sum(row)).rjust(7))
        return "\n".join(lines)

    def summary(self) -> str:
        title = f"{self.name}: " if self.name else ""
        line = f"{title}accuracy {self.accuracy:.3f} ({self.correct}/{self.n})"
        if self.fallback_rate:
            line += f", {self.fallback_rate:.1%} to base"
        if self.untested:
            line += f"; excludes {', '.join(self.untested)}: no queries of theirs were held out"
        return line

    def lines(self) -> list[str]:
        """Everything as text: summary, calibration, confusion matrix, accuracy vs coverage."""
        out = [self.summary()]
        if self.ece is not None:
            out.append(f"fallback to base {self.fallback_rate:.1%}; calibration error (ECE) {self.ece:.3f}")
        out += ["confusion matrix (rows: expected, columns: routed to):", *self.table().splitlines()]
        if self.coverage:
            out.append("accuracy vs coverage (most confident share of in-domain queries, no fallback):")
            out.append("  coverage  min score  accuracy      n")
            out += [
                f"  {r.coverage:8.0%}  {r.threshold:9.3f}  {r.accuracy:8.3f}  {r.n:5d}" for r in self.coverage
            ]
        return out


def evaluate_routing(
    router: Router, queries: Sequence[str], labels: Sequence[str], *, name: str = "", max_mistakes: int = 50
) -> RoutingReport:
    """Route ``queries`` and compare with the expected expert names ``labels``."""
    if len(queries) != len(labels):
        raise MoleError(f"{len(queries)} queries but {len(labels)} expected experts")
    routes = router.route(list(queries)) if queries else []
    order = list(router.labels)
    order += sorted({x for x in [*labels, *(r.expert for r in routes)] if x not in router.labels})
    index = {label: i for i, label in enumerate(order)}
    confusion = [[0] * len(order) for _ in order]
    mistakes: list[Mistake] = []
    for route, expected in zip(routes, labels, strict=True):
        confusion[index[expected]][index[route.expert]] += 1
        if route.expert != expected and len(mistakes) < max_mistakes:
            mistakes.append(
                Mistake(
                    query=route.query,
                    expected=expected,
                    predicted=route.expert,
                    confidence=route.confidence,
                )
            )
    correct = sum(confusion[i][i] for i in range(len(order)))
    recall = {
        label: (confusion[i][i] / sum(confusion[i]) if sum(confusion[i]) else None)
        for label, i in index.items()
    }
    return RoutingReport(
        name=name,
        n=len(queries),
        correct=correct,
        accuracy=correct / len(queries) if queries else 0.0,
        labels=order,
        confusion=confusion,
        recall=recall,
        mistakes=mistakes,
        **_calibration_metrics(routes, labels),
    )


def _calibration_metrics(routes: Sequence[Route], labels: Sequence[str]) -> dict[str, Any]:
    """Fallback rate, ECE of the top output's score, and the accuracy-vs-coverage table."""
    if not routes:
        return {}
    tops = [max(r.scores, key=r.scores.__getitem__) for r in routes]
    ece = expected_calibration_error(
        [r.scores[t] for r, t in zip(routes, tops, strict=True)],
        [t == want for t, want in zip(tops, labels, strict=True)],
    )
    in_domain = [(r, want) for r, want in zip(routes, labels, strict=True) if want != BASE]
    confidences = [r.confidence for r, _ in in_domain]
    best = [max((k for k in r.scores if k != BASE), key=r.scores.__getitem__) for r, _ in in_domain]
    correct = [b == want for b, (_, want) in zip(best, in_domain, strict=True)]
    return {
        "fallback_rate": round(sum(r.expert == BASE for r in routes) / len(routes), 4),
        "ece": ece,
        "coverage": coverage_table(confidences, correct),
    }


def read_labelled_file(
    path: str | os.PathLike[str], labels: Iterable[str] | None = None
) -> list[LabelledQuery]:
    """Read JSONL rows with ``query`` and ``expert``; ``labels`` (if given) are the expert names allowed,
    besides ``base`` (an off-topic request that should reach the base model)."""
    path = Path(path)
    allowed = list(labels) if labels is not None else None
    text = read_text(path, "labelled query file")
    rows: list[LabelledQuery] = []
    for where, row in objects(text.splitlines(), path, expected="an object with 'query' and 'expert'"):
        query, expert = row.get("query"), row.get("expert")
        if not isinstance(query, str) or not query.strip():
            raise MoleError(f"{where}: no non-empty 'query' string")
        if not isinstance(expert, str) or not expert.strip():
            raise MoleError(f"{where}: no non-empty 'expert' string")
        if allowed is not None and expert not in allowed and expert != BASE:
            raise MoleError(f"{where}: expert {expert!r} is not one of {', '.join(allowed)}")
        rows.append(LabelledQuery(query=query, expert=expert))
    if not rows:
        raise MoleError(f"{path}: no labelled queries")
    return rows
