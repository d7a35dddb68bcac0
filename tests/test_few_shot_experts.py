"""Experts registered from a task and a few examples are routable at once and after training, 4 to 32 of them."""

from __future__ import annotations

import pytest

from mole_core.manifest import BaseModelRef, ExpertEntry, Manifest
from mole_core.routing import BASE, build_embedding_router
from mole_core.routing.train import fit_router

TOPICS = [
    "astronomy", "volcanoes", "chess openings", "violin technique", "submarines", "beekeeping", "tax law",
    "knitting", "cryptography", "glaciers", "origami", "railway signalling", "dinosaurs", "opera singing",
    "solar panels", "ancient Egypt", "bicycle repair", "mushroom foraging", "jazz harmony", "coral reefs",
    "calligraphy", "tornadoes", "pottery glazes", "satellite orbits", "wine making", "sign language",
    "lighthouse history", "rock climbing", "quantum computing", "falconry", "typewriters", "tea ceremonies",
]  # fmt: skip
FORMS = [
    "Tell me the basics of {t}.", "What should a beginner know about {t}?", "explain {t} to me",
    "Which books about {t} are good?", "What is the hardest part of {t}?", "I keep reading about {t}, why?",
]  # fmt: skip
HELD_OUT = ["Give me one surprising fact about {t}.", "how did people first get into {t}"]


def manifest(n: int) -> Manifest:
    experts = [
        ExpertEntry(
            name=f"e{i}",
            task=f"Answers questions about {topic}",
            rank=4,
            alpha=4,
            target_modules=["q_proj"],
            base_model="tiny",
            path=f"experts/e{i}",
            examples=[form.format(t=topic) for form in FORMS],
        )
        for i, topic in enumerate(TOPICS[:n])
    ]
    return Manifest(base=BaseModelRef(id="tiny"), experts=experts)


def held_out(n: int) -> tuple[list[str], list[str]]:
    pairs = [(form.format(t=TOPICS[i]), f"e{i}") for i in range(n) for form in HELD_OUT]
    return [q for q, _ in pairs], [e for _, e in pairs]


@pytest.mark.parametrize("n", [4, 8, 16, 32])
def test_embedding_router_routes_few_shot_experts_at_once(n: int) -> None:
    router = build_embedding_router(manifest(n))
    assert router.labels == [*(f"e{i}" for i in range(n)), BASE]
    queries, expected = held_out(n)
    routed = [r.expert for r in router.route(queries)]
    assert sum(r == e for r, e in zip(routed, expected, strict=True)) >= 0.9 * len(queries)


@pytest.mark.parametrize("n", [4, 32])
def test_trained_default_router_routes_few_shot_experts(n: int) -> None:
    fitted = fit_router(manifest(n), "minilm", size=40 * n, seed=0, fit_options={"epochs": 8})
    router = fitted.router
    assert router.labels == [f"e{i}" for i in range(n)]  # no negatives given: no base output
    assert fitted.training.get("refit") is True  # six examples each: refitted after calibration
    queries, expected = held_out(n)
    routed = [r.expert for r in router.route(queries)]
    assert sum(r == e for r, e in zip(routed, expected, strict=True)) >= 0.9 * len(queries)
    assert router.calibration_temperature > 0 and router.min_confidence == 0.0
