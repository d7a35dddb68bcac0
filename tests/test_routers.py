"""Routers: safetensors round trips, expert names not indices, load_router's checks, the embedding router."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mole_core import MoleError, RouterEntry, plugins
from mole_core.routing import (
    FixedRouter,
    Router,
    evaluate_routing,
    load_router,
    read_labelled_file,
    save_router,
)
from mole_core.routing.data import ExpertRouting, synthesize

PAPER = ["reasoning", "knowledge", "qa", "factoid"]
PROBES = [
    "Solve 3x + 4 = 19 for x.",
    "Should the government ban fireworks?",
    "Why do cats sleep so much?",
    "who wrote the novel moby dick",
    "",
]


@pytest.fixture(scope="module")
def tiny_set():  # noqa: ANN201
    cat = plugins.catalogue()
    sources = [
        ExpertRouting(name=n, routing=cat.experts[n].routing, dataset=cat.experts[n].dataset) for n in PAPER
    ]
    return synthesize(sources, 160, seed=0)


FIT = {
    "bert-tiny": {"epochs": 6, "batch_size": 16, "init": "random"},
    "minilm": {"epochs": 5},
    "embedding": {},
}


@pytest.fixture(scope="module", params=sorted(FIT))
def trained(request, tiny_set):  # noqa: ANN001, ANN201
    """Each built-in router kind, trained on a tiny set (seconds)."""
    kind = request.param
    options = dict(FIT[kind])
    build = {k: options.pop(k) for k in ("init",) if k in options}
    router = plugins.get_router_spec(kind).build(PAPER, seed=0, **build)
    calls: list[tuple] = []
    router.fit(tiny_set.queries(), tiny_set.experts(), progress=lambda *a: calls.append(a), seed=0, **options)
    router.progress_calls = calls  # type: ignore[attr-defined]
    return router


def test_training_reports_progress_through_the_callback(trained: Router) -> None:
    """The library reports (stage, done, total, info); drawing bars is the CLI's business."""
    calls = trained.progress_calls  # type: ignore[attr-defined]
    assert calls, "no progress reported"
    stage, done, total, _ = calls[-1]
    assert done == total > 0
    if trained.kind != "embedding":  # the embedding router only encodes its example bank
        losses = [info["loss"] for s, _, _, info in calls if "loss" in info]
        assert losses and all(isinstance(x, float) for x in losses)


def test_save_load_round_trip_gives_identical_predictions(trained: Router, tmp_path: Path) -> None:
    trained.save(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["kind"] == trained.kind and config["labels"] == PAPER
    assert not any(p.suffix in {".bin", ".pt", ".pkl", ".pickle"} for p in tmp_path.rglob("*"))
    loaded = plugins.get_router_spec(trained.kind).load(tmp_path)
    assert loaded.labels == PAPER
    assert loaded.predict(PROBES) == trained.predict(PROBES)


def test_predictions_are_probabilities_in_label_order(trained: Router) -> None:
    rows = trained.predict(PROBES)
    assert len(rows) == len(PROBES)
    for row in rows:
        assert len(row) == len(PAPER)
        assert all(p >= 0 for p in row) and abs(sum(row) - 1) < 1e-5
    routes = trained.route(PROBES)
    assert [r.expert for r in routes] == [PAPER[max(range(4), key=row.__getitem__)] for row in rows]
    assert trained.predict([]) == []


def test_trained_router_learns_the_kinds_it_was_shown(trained: Router, tiny_set) -> None:  # noqa: ANN001
    report = evaluate_routing(trained, tiny_set.queries("train"), tiny_set.experts("train"))
    assert report.accuracy > 0.5  # chance is 0.25


def test_labels_are_names_not_indices(tmp_path: Path, tiny_set) -> None:  # noqa: ANN001
    """A router over experts in another order routes by name: the order is the router's own."""
    order = ["factoid", "qa", "reasoning", "knowledge"]
    router = plugins.get_router_spec("embedding").build(order)
    router.fit(tiny_set.queries(), tiny_set.experts())
    router.save(tmp_path)
    loaded = plugins.get_router_spec("embedding").load(tmp_path)
    assert loaded.labels == order
    assert loaded.route(["Prove that there are infinitely many primes."])[0].expert == "reasoning"
    with pytest.raises(MoleError, match="'legal'"):
        router.fit(["a query"], ["legal"])


def test_loading_a_router_of_another_kind_is_refused(tmp_path: Path) -> None:
    FixedRouter(["a", "b"]).save(tmp_path)
    with pytest.raises(MoleError, match="not 'minilm'"):
        plugins.get_router_spec("minilm").load(tmp_path)


# -- load_router ------------------------------------------------------------------------------------------
def register(registry, adapter_factory, names) -> None:  # noqa: ANN001
    for seed, name in enumerate(names, 1):
        registry.add_expert(name, adapter_factory(rank=4, seed=seed))


def record(registry, router: Router) -> RouterEntry:  # noqa: ANN001
    return save_router(registry, router, {"test": True})


def test_load_router_refuses_a_router_over_an_unregistered_expert(registry, adapter_factory) -> None:  # noqa: ANN001
    register(registry, adapter_factory, ["reasoning", "factoid"])
    router = plugins.get_router_spec("embedding").build(
        ["reasoning", "factoid"],
        examples={"reasoning": ["Solve x + 1 = 2"], "factoid": ["Who wrote Hamlet?"]},
    )
    record(registry, router)
    assert load_router(registry).labels == ["reasoning", "factoid"]
    with registry.transaction() as manifest:  # a hand-edited manifest (remove-expert drops the router too)
        manifest.experts = [e for e in manifest.experts if e.name != "factoid"]
    with pytest.raises(MoleError) as info:
        load_router(registry)
    message = str(info.value)
    assert "'factoid', which is not registered" in message and "mole train-router" in message
    assert "\n" not in message


def test_load_router_refuses_tampered_weights(registry, adapter_factory) -> None:  # noqa: ANN001
    register(registry, adapter_factory, ["reasoning", "factoid"])
    router = plugins.get_router_spec("embedding").build(
        ["reasoning", "factoid"],
        examples={"reasoning": ["Solve x + 1 = 2"], "factoid": ["Who wrote Hamlet?"]},
    )
    entry = record(registry, router)
    weights = registry.root / entry.path / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(MoleError, match="checksum mismatch on .*model.safetensors"):
        load_router(registry)
    weights.unlink()
    with pytest.raises(MoleError, match="model.safetensors is missing"):
        load_router(registry)


def test_without_a_recorded_router_one_expert_needs_none(registry, adapter_factory) -> None:  # noqa: ANN001
    register(registry, adapter_factory, ["qa"])
    router = load_router(registry)
    assert isinstance(router, FixedRouter)
    assert [r.expert for r in router.route(["anything at all", "Why is the sky blue?"])] == ["qa", "qa"]


def test_no_experts_is_a_clear_error(registry) -> None:  # noqa: ANN001
    with pytest.raises(MoleError, match="no experts registered"):
        load_router(registry)


def test_embedding_router_routes_a_freshly_added_expert_without_training(registry, adapter_factory) -> None:  # noqa: ANN001
    register(registry, adapter_factory, PAPER)
    from mole_core.experts import add_expert

    add_expert(
        registry,
        "legal",
        adapter=adapter_factory(rank=4, seed=9),
        examples=[
            "Is this non-compete clause enforceable under employment law?",
            "Draft a confidentiality clause for a software licence agreement.",
            "Can my landlord keep my deposit under the tenancy agreement?",
        ],
    )
    assert registry.load().router is None
    router = load_router(registry)
    assert router.kind == "embedding" and router.labels == [*PAPER, "legal", "base"]
    routes = router.route(["Is a verbal contract legally binding?", "What is the capital of Peru?"])
    assert [r.expert for r in routes] == ["legal", "factoid"]


def test_recorded_embedding_router_learns_a_later_expert_at_once(registry, adapter_factory, caplog) -> None:  # noqa: ANN001
    register(registry, adapter_factory, ["reasoning", "factoid"])
    router = plugins.get_router_spec("embedding").build(
        ["reasoning", "factoid"],
        examples={"reasoning": ["Solve x + 1 = 2"], "factoid": ["Who wrote Hamlet?"]},
    )
    record(registry, router)
    registry.add_expert(
        "cooking", adapter_factory(rank=4, seed=7), examples=["How long should I knead bread dough?"]
    )
    loaded = load_router(registry)
    assert loaded.labels == ["reasoning", "factoid", "cooking"]
    assert loaded.route(["How long do I bake sourdough bread?"])[0].expert == "cooking"


def test_classifier_warns_about_experts_it_cannot_route_to(
    registry, adapter_factory, tiny_set, caplog
) -> None:  # noqa: ANN001
    register(registry, adapter_factory, ["reasoning", "factoid"])
    router = plugins.get_router_spec("bert-tiny").build(["reasoning", "factoid"], init="random")
    pairs = [
        (q, e) for q, e in zip(tiny_set.queries(), tiny_set.experts(), strict=True) if e in router.labels
    ]
    router.fit([q for q, _ in pairs], [e for _, e in pairs], epochs=1, progress=False)
    record(registry, router)
    registry.add_expert(
        "cooking", adapter_factory(rank=4, seed=7), examples=["How long should I knead dough?"]
    )
    with caplog.at_level("WARNING", logger="mole_core.routing"):
        loaded = load_router(registry)
    assert loaded.labels == ["reasoning", "factoid"]
    assert "cooking" in caplog.text and "mole train-router" in caplog.text


# -- evaluation helpers ----------------------------------------------------------------------------------
class KeywordRouter(Router):
    """Deterministic: 'solve' -> math, everything else -> facts."""

    kind = "keyword"

    def predict(self, queries):  # noqa: ANN001, ANN201
        return [[1.0, 0.0] if "solve" in q.lower() else [0.0, 1.0] for q in queries]

    def save(self, directory: Path) -> None:  # pragma: no cover - not saved in tests
        raise NotImplementedError


def test_evaluate_routing_counts_confusion_and_recall() -> None:
    queries = ["Solve x", "solve y", "Who?", "Solve z", "When?"]
    expected = ["math", "math", "math", "facts", "facts"]
    report = evaluate_routing(KeywordRouter(["math", "facts"]), queries, expected)
    assert report.labels == ["math", "facts"]
    assert report.confusion == [[2, 1], [1, 1]]  # rows expected, columns predicted
    assert report.correct == 3 and report.accuracy == pytest.approx(3 / 5)
    assert report.recall == {"math": pytest.approx(2 / 3), "facts": pytest.approx(1 / 2)}
    assert [(m.query, m.predicted) for m in report.mistakes] == [("Who?", "facts"), ("Solve z", "math")]
    table = report.table().splitlines()
    assert len(table) == 3 and "recall" in table[0]
    assert len({len(line) for line in table}) == 1  # columns line up
    assert table[1].split()[:3] == ["math", "2", "1"]


def test_evaluate_routing_keeps_expected_experts_the_router_lacks() -> None:
    report = evaluate_routing(
        KeywordRouter(["math", "facts"]), ["Solve x", "Draft a will"], ["math", "legal"]
    )
    assert report.labels == ["math", "facts", "legal"]
    assert report.recall["legal"] == 0 and report.recall["facts"] is None
    assert report.accuracy == 0.5


def test_accuracy_names_the_experts_it_says_nothing_about() -> None:
    """An expert with no held-out query is flagged, not silently counted in a perfect accuracy."""
    report = evaluate_routing(KeywordRouter(["math", "facts"]), ["Solve x", "solve y"], ["math", "math"])
    assert report.accuracy == 1.0
    assert report.support == {"math": 2, "facts": 0} and report.untested == ["facts"]
    assert "excludes facts: no queries of theirs were held out" in report.summary()
    assert report.model_dump()["untested"] == ["facts"]  # in train-router --json and the eval report
    assert report.table().splitlines()[2].split()[-2:] == ["-", "0"]  # recall "-", n 0
    full = evaluate_routing(KeywordRouter(["math", "facts"]), ["Solve x", "Who?"], ["math", "facts"])
    assert full.untested == [] and "excludes" not in full.summary()


def test_read_labelled_file(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(
        '{"query": "Solve x", "expert": "math", "source": "me"}\n\n{"query": "Who?", "expert": "facts"}\n'
    )
    rows = read_labelled_file(good)
    assert [(r.query, r.expert) for r in rows] == [("Solve x", "math"), ("Who?", "facts")]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "Solve x", "expert": "math"}\n{"query": "Who?"\n')
    with pytest.raises(MoleError, match=r"bad.jsonl:2: invalid JSON"):
        read_labelled_file(bad)
    bad.write_text('{"query": "Solve x", "expert": "math"}\n{"query": "Who?"}\n')
    with pytest.raises(MoleError, match=r"bad.jsonl:2: no non-empty 'expert'"):
        read_labelled_file(bad)
    with pytest.raises(MoleError, match=r"good.jsonl:3: expert 'facts' is not one of math"):
        read_labelled_file(good, labels=["math"])
    with pytest.raises(MoleError, match="does not exist"):
        read_labelled_file(tmp_path / "missing.jsonl")


def test_bert_tiny_has_the_papers_architecture() -> None:
    """prajjwal1/bert-tiny as the paper's router config.json records it."""
    router = plugins.get_router_spec("bert-tiny").build(PAPER, init="random")
    config = router.model.config
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (128, 2, 2)
    assert (config.intermediate_size, config.vocab_size) == (512, 30522)
    assert config.id2label == dict(enumerate(PAPER))
    assert 4_000_000 < sum(p.numel() for p in router.model.parameters()) < 5_000_000


# -- the Router contract the core relies on ---------------------------------------------------------------
def test_router_contract_defaults_and_overrides() -> None:
    import torch

    import mole_core

    assert mole_core.Router is Router and mole_core.Route is not None  # exported at the top level
    fixed = FixedRouter(["a", "b"])
    assert fixed.tensors() == [] and not fixed.learns_from_examples()
    with pytest.raises(MoleError, match="cannot learn an expert from examples"):
        fixed.add_examples("c", ["a query"])

    class Holder(FixedRouter):
        def __init__(self, labels: list[str]) -> None:
            super().__init__(labels)
            self.head = torch.nn.Linear(3, 2)
            self.bank = torch.zeros(5)

    assert sum(t.numel() for t in Holder(["a"]).tensors()) == 3 * 2 + 2 + 5  # modules and plain tensors
    embedding = plugins.get_router_spec("embedding")
    assert embedding.build(["a"], examples={"a": ["hello"]}).learns_from_examples()
