"""How well a router routes: accuracy, confusion matrix and recall against labelled queries."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel, Field, computed_field

from ..errors import MoleError
from ..jsonl import objects, read_text
from .base import Router


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
    """Accuracy, confusion matrix (rows: expected, columns: predicted) and per-expert recall."""

    name: str = ""
    n: int
    correct: int
    accuracy: float
    labels: list[str] = Field(description="Row and column order of the confusion matrix.")
    confusion: list[list[int]]
    recall: dict[str, float | None]
    mistakes: list[Mistake] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def support(self) -> dict[str, int]:
        """Queries per expected expert (the confusion matrix's row sums)."""
        return {label: sum(row) for label, row in zip(self.labels, self.confusion, strict=True)}

    @computed_field  # type: ignore[prop-decorator]
    @property
    def untested(self) -> list[str]:
        """Experts with no query here: the accuracy says nothing about them."""
        return [label for label, n in self.support.items() if n == 0]

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
        if self.untested:
            line += f"; excludes {', '.join(self.untested)}: no queries of theirs were held out"
        return line


def evaluate_routing(
    router: Router, queries: Sequence[str], labels: Sequence[str], *, name: str = "", max_mistakes: int = 50
) -> RoutingReport:
    """Route ``queries`` and compare with the expected expert names ``labels``."""
    if len(queries) != len(labels):
        raise MoleError(f"{len(queries)} queries but {len(labels)} expected experts")
    order = list(router.labels) + sorted({label for label in labels if label not in router.labels})
    index = {label: i for i, label in enumerate(order)}
    confusion = [[0] * len(order) for _ in order]
    mistakes: list[Mistake] = []
    routes = router.route(list(queries)) if queries else []
    for route, expected in zip(routes, labels, strict=True):
        confusion[index[expected]][index[route.expert]] += 1
        if route.expert != expected and len(mistakes) < max_mistakes:
            mistakes.append(
                Mistake(
                    query=route.query,
                    expected=expected,
                    predicted=route.expert,
                    confidence=route.scores[route.expert],
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
    )


def read_labelled_file(
    path: str | os.PathLike[str], labels: Iterable[str] | None = None
) -> list[LabelledQuery]:
    """Read JSONL rows with ``query`` and ``expert``; ``labels`` (if given) are the expert names allowed."""
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
        if allowed is not None and expert not in allowed:
            raise MoleError(f"{where}: expert {expert!r} is not one of {', '.join(allowed)}")
        rows.append(LabelledQuery(query=query, expert=expert))
    if not rows:
        raise MoleError(f"{path}: no labelled queries")
    return rows
