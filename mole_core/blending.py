"""Which experts a row runs with: a route's blend weights and the prompt template that goes with them.

Shared by the runtime, the server's front-end (which may hold no model at all) and the lm-eval model,
so a query is framed and blended the same way wherever it is answered. No torch here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .errors import MoleError
from .manifest import Manifest
from .routing import BASE, Route
from .specs import DEFAULT_TEMPLATE


def blend_weights(ranked: Sequence[tuple[str, float]]) -> dict[str, float]:
    """Blend weights (to 2 decimals, summing to ~1) of the best-first ``ranked`` experts, without those
    whose weight rounds to 0: a blend of one real expert is that expert alone (weight 1.0)."""
    kept = list(ranked)
    while True:
        total = sum(p for _, p in kept)
        blend = {n: round(p / total, 2) if total > 0 else 0.0 for n, p in kept}
        nonzero = [(n, p) for n, p in kept if blend[n] > 0]
        if not nonzero:  # every score 0: the router's first choice alone
            return {kept[0][0]: 1.0}
        if len(nonzero) == len(kept):
            return blend if len(kept) > 1 else {kept[0][0]: 1.0}
        kept = nonzero


def template_for(manifest: Manifest, weights: dict[str, float]) -> str:
    """The prompt template of the heaviest expert in ``weights`` (the plain query for the bare base)."""
    if not weights:
        return DEFAULT_TEMPLATE
    entry = manifest.expert(max(weights, key=weights.get))
    return entry.prompt_template if entry is not None else DEFAULT_TEMPLATE


def route_weights(
    route: Route, top_k: int, known: Sequence[str], blendable: Callable[[str], bool] | None = None
) -> dict[str, float]:
    """Blend weights of the router's ``top_k`` best loaded experts for one query (see blend_weights);
    none (the bare base) when the router fell back to ``base``. Experts that ``blendable`` rejects
    (DoRA) are never blended: alone if first, else left out."""
    if route.expert == BASE:
        return {}
    experts = {n: p for n, p in route.scores.items() if n != BASE}
    ranked = sorted(experts.items(), key=lambda kv: -kv[1])[: min(top_k, len(experts))]
    ranked = [(n, p) for n, p in ranked if n in known]
    if not ranked:
        raise MoleError(f"the router chose {route.expert!r}, which is not loaded")
    if blendable is not None and len(ranked) > 1:
        ok = blendable(ranked[0][0])
        ranked = ranked[:1] + [(n, p) for n, p in ranked[1:] if ok and blendable(n)]
    return blend_weights(ranked)
