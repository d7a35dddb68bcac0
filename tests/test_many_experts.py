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


# -- registering many adapters at once --------------------------------------------------------------------
@pytest.fixture
def adapter_dir(tmp_path, adapter_factory):  # noqa: ANN001, ANN201
    """A directory of five adapters named x0..x4, two of them with an examples.txt."""
    import shutil

    parent = tmp_path / "incoming"
    for i in range(5):
        shutil.copytree(adapter_factory(rank=(2, 4)[i % 2], seed=30 + i), parent / f"x{i}")
    (parent / "x1" / "examples.txt").write_text("how do I bake bread\n\nbest flour for sourdough\n")
    (parent / "x3" / "examples.txt").write_text("tax deadline\n")
    return parent


def test_add_experts_writes_the_manifest_once(registry, adapter_dir, monkeypatch) -> None:  # noqa: ANN001
    from mole_core import NewExpert, Registry

    writes: list[int] = []
    original = Registry.write
    monkeypatch.setattr(Registry, "write", lambda self, m: (writes.append(len(m.experts)), original(self, m)))
    steps: list[tuple[str, int, int]] = []
    items = [NewExpert(name=f"x{i}", adapter=adapter_dir / f"x{i}", task=f"task {i}") for i in range(5)]
    entries = registry.add_experts(
        items, progress=lambda stage, done, total, info=None: steps.append((stage, done, total))
    )
    assert writes == [5] and [e.name for e in entries] == [f"x{i}" for i in range(5)]
    assert steps[-1] == ("staging", 5, 5)
    assert registry.validate() == [] and registry.get_expert("x2").task == "task 2"


def test_add_experts_is_all_or_none(registry, adapter_dir, other_base, adapter_factory) -> None:  # noqa: ANN001
    from mole_core import AdapterError, MoleError, NewExpert

    registry.add_expert("x0", adapter_dir / "x0")
    good = [NewExpert(name=f"y{i}", adapter=adapter_dir / f"x{i}") for i in range(1, 4)]
    foreign = NewExpert(name="foreign", adapter=adapter_factory(rank=4, base=other_base))
    with pytest.raises(AdapterError):
        registry.add_experts([*good, foreign])
    with pytest.raises(MoleError, match="'y1' is given twice"):
        registry.add_experts([*good, good[0]])
    with pytest.raises(MoleError, match="'x0' is already registered"):
        registry.add_experts([*good, NewExpert(name="x0", adapter=adapter_dir / "x1")])
    assert registry.load().names() == ["x0"]
    assert sorted(p.name for p in (registry.root / "experts").iterdir()) == ["x0"], "no staged leftovers"
    replaced = registry.add_experts([NewExpert(name="x0", adapter=adapter_dir / "x1")], replace=True)
    assert replaced[0].rank == 4 and registry.load().names() == ["x0"]


def test_import_experts_cli_registers_a_directory(cli, registry, adapter_dir) -> None:  # noqa: ANN001
    import json

    out = cli(
        "import-experts", str(adapter_dir), "--task", "imported", "--json", "--registry", str(registry.root)
    )
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    assert [r["name"] for r in rows] == [f"x{i}" for i in range(5)]
    assert registry.get_expert("x1").examples == ["how do I bake bread", "best flour for sourdough"]
    assert registry.get_expert("x0").task == "imported"
    again = cli("import-experts", str(adapter_dir / "x2"), "--registry", str(registry.root))
    assert again.exit_code == 1 and "already registered" in again.output
    (adapter_dir.parent / "nothing").mkdir()
    empty = cli("import-experts", str(adapter_dir.parent / "nothing"), "--registry", str(registry.root))
    assert empty.exit_code == 1 and "holds no adapter directories" in empty.output
