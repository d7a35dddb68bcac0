"""Scale without quadratic steps: the embedding router over many experts, registries of many entries."""

from __future__ import annotations

import pytest
import torch

from mole_core import plugins


@pytest.fixture(scope="module")
def uneven():  # noqa: ANN201
    """An embedding router whose experts have 1, 2, 3 and 7 examples (top_k 5 cuts only the last)."""
    examples = {
        "one": ["what is a prime number"],
        "two": ["capital of France", "largest ocean on earth"],
        "three": ["fix my python loop", "sort a list in place", "read a file line by line"],
        "seven": [f"history question number {i} about ancient Rome" for i in range(7)],
    }
    return plugins.get_router_spec("embedding").build(list(examples), examples=examples, top_k=5)


def reference_scores(router, queries: list[str]) -> torch.Tensor:  # noqa: ANN001
    """The per-expert definition: mean of the top_k similarities among that expert's own examples."""
    sims = router._encode(queries) @ router.bank.T
    out = torch.empty(len(queries), len(router.labels))
    for i in range(len(router.labels)):
        own = sims[:, router.bank_labels == i]
        out[:, i] = own.topk(min(router.top_k, own.shape[1]), dim=1).values.mean(1)
    return out


def test_vectorised_scores_equal_the_per_expert_definition(uneven) -> None:  # noqa: ANN001
    queries = ["is 7 prime", "Rome and Carthage", "python list sort", "Paris"]
    assert torch.allclose(uneven.scores(queries), reference_scores(uneven, queries), atol=1e-6)
    assert [r.expert for r in uneven.route(queries)] == ["one", "seven", "three", "two"]


def test_grouping_follows_bank_changes(uneven) -> None:  # noqa: ANN001
    before = uneven.scores(["a brand new topic about tax law"])
    uneven.add_examples("tax", ["how do I file my income tax return"])
    after = uneven.scores(["a brand new topic about tax law"])
    assert after.shape[1] == before.shape[1] + 1 and uneven.labels[-1] == "tax"
    assert torch.allclose(after, reference_scores(uneven, ["a brand new topic about tax law"]), atol=1e-6)
    assert uneven.route(["file my income tax return"])[0].expert == "tax"


def test_many_experts_are_encoded_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from mole_plugins.routers.embedding import EmbeddingRouter

    calls: list[int] = []
    original = EmbeddingRouter._encode

    def counting(self, queries, progress=None):  # noqa: ANN001, ANN202
        calls.append(len(queries))
        return original(self, queries, progress)

    monkeypatch.setattr(EmbeddingRouter, "_encode", counting)
    examples = {f"x{i:03d}": [f"example {i}", f"another example {i}"] for i in range(200)}
    router = plugins.get_router_spec("embedding").build(list(examples), examples=examples)
    assert calls == [400] and len(router.labels) == 200
