"""Calibrated router scores and the fallback to the bare base model.

A router's raw probabilities are often over-confident. Temperature scaling (Guo et al., 2017) divides
their log-probabilities by one number fitted on held-out queries, so a score of 0.8 means right about
80% of the time. Below ``min_confidence`` no expert is trusted and the query goes to the base model;
:func:`decide` is that rule, and every path that routes (``mole route``, ``generate``, ``eval``, the
server) reaches it through :meth:`Router.route`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel

BASE = "base"
"""The bare base model: the route of a query no expert fits, and a router output trained on off-topic requests."""


class Decision(BaseModel):
    expert: str
    confidence: float
    reason: str | None = None


def calibrate(rows: Sequence[Sequence[float]], temperature: float) -> list[list[float]]:
    """Temperature-scale probability rows: softmax(log p / T). T > 1 softens, T < 1 sharpens."""
    if temperature == 1.0:
        return [list(map(float, row)) for row in rows]
    out = []
    for row in rows:
        logs = [math.log(max(float(p), 1e-12)) / temperature for p in row]
        top = max(logs)
        exps = [math.exp(v - top) for v in logs]
        total = sum(exps)
        out.append([v / total for v in exps])
    return out


def decide(scores: dict[str, float], min_confidence: float = 0.0) -> Decision:
    """The expert for one query: the most likely one, or ``base`` when its score is below ``min_confidence``.

    ``scores`` may hold a ``base`` entry (a router trained on off-topic requests): its mass lowers the
    experts' scores but is never an expert itself. ``min_confidence`` 0 never falls back.
    """
    experts = {k: v for k, v in scores.items() if k != BASE}
    if not experts:
        return Decision(expert=BASE, confidence=0.0, reason="the router knows no expert")
    best = max(experts, key=experts.__getitem__)
    confidence = experts[best]
    if confidence < min_confidence:
        reason = f"no expert is confident enough: best {best} {confidence:.2f} < min_confidence {min_confidence:.2f}"
        return Decision(expert=BASE, confidence=confidence, reason=reason)
    return Decision(expert=best, confidence=confidence)


def nll(rows: Sequence[Sequence[float]], targets: Sequence[int], temperature: float) -> float:
    """Mean negative log-likelihood of ``targets`` under the temperature-scaled rows."""
    total = 0.0
    for row, target in zip(calibrate(rows, temperature), targets, strict=True):
        total -= math.log(max(row[target], 1e-12))
    return total / max(1, len(targets))


def fit_temperature(rows: Sequence[Sequence[float]], targets: Sequence[int]) -> float:
    """The temperature minimising held-out NLL (golden-section search on log T in [1/50, 50])."""
    if not rows:
        return 1.0
    lo, hi = math.log(1 / 50), math.log(50)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(rows, targets, math.exp(a)), nll(rows, targets, math.exp(b))
    for _ in range(40):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(rows, targets, math.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(rows, targets, math.exp(b))
    return round(math.exp((lo + hi) / 2), 4)


class ThresholdChoice(BaseModel):
    """How ``min_confidence`` was chosen on held-out queries: what it keeps and what it sends to base."""

    min_confidence: float
    accuracy_without: float
    accuracy_with: float
    negatives: int
    negatives_to_base: float
    max_accuracy_drop: float


def choose_min_confidence(
    in_domain: Sequence[tuple[dict[str, float], str]],
    negatives: Sequence[dict[str, float]],
    max_accuracy_drop: float = 0.01,
    negatives_target: float = 0.9,
) -> ThresholdChoice:
    """The lowest threshold that sends ``negatives_target`` of the off-topic requests to the base model,
    but never one that costs in-domain accuracy (fallbacks count as wrong) more than ``max_accuracy_drop``.

    Held-out templates are easier than real questions, so a threshold only as high as the negatives need
    keeps more real in-domain queries than the highest one the held-out split would allow.
    """
    decided = [(decide(s).confidence, decide(s).expert == want) for s, want in in_domain]
    neg_conf = sorted(decide(s).confidence for s in negatives)
    n = max(1, len(decided))
    base_accuracy = sum(ok for _, ok in decided) / n
    ceiling = 0.0
    for t in sorted({round(c, 4) for c, _ in decided} | {round(c, 4) for c in neg_conf}):
        if sum(ok for c, ok in decided if c >= t) / n >= base_accuracy - max_accuracy_drop - 1e-9:
            ceiling = t
    needed = math.ceil(negatives_target * len(neg_conf))
    enough = round(neg_conf[needed - 1] + 1e-4, 4) if needed else 0.0
    best = min(ceiling, enough)
    to_base = sum(c < best for c in neg_conf) / max(1, len(neg_conf))
    with_t = sum(ok for c, ok in decided if c >= best) / n
    return ThresholdChoice(
        min_confidence=best,
        accuracy_without=round(base_accuracy, 4),
        accuracy_with=round(with_t, 4),
        negatives=len(neg_conf),
        negatives_to_base=round(to_base, 4),
        max_accuracy_drop=max_accuracy_drop,
    )
