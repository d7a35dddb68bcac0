"""The runtime on a tiny Llama: one base, adapters by name, mixed batches equal to running alone."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from mole_core import AdapterError, MoleError, NotFoundError, Registry
from mole_core.routing import Router
from mole_core.runtime import MoLE


class KeywordRouter(Router):
    """A deterministic test router: the expert whose name appears in the query wins."""

    kind = "keyword"

    def predict(self, queries: Sequence[str]) -> list[list[float]]:
        rows = []
        for query in queries:
            hits = [1.0 if label in query else 0.0 for label in self.labels]
            if not any(hits):
                hits = [1.0] * len(self.labels)
            weights = [h + 0.1 * (len(self.labels) - i) for i, h in enumerate(hits)]
            total = sum(weights)
            rows.append([w / total for w in weights])
        return rows

    def save(self, directory: Path) -> None:  # pragma: no cover - not saved in these tests
        raise NotImplementedError


@pytest.fixture
def loaded(registry: Registry, adapter_factory) -> MoLE:
    for name, rank, seed in (("alpha", 8, 1), ("beta", 4, 2), ("gamma", 2, 3)):
        registry.add_expert(name, adapter_factory(rank=rank, seed=seed))
    return MoLE.from_registry(registry.root, router=KeywordRouter(["alpha", "beta", "gamma"]))


QUERIES = ["alpha: add two numbers", "beta, tell me a fact", "gamma why?", "alpha again, longer query here"]


def test_loads_base_once_with_every_adapter_by_name(loaded: MoLE) -> None:
    assert sorted(loaded.model.peft_config) == ["alpha", "beta", "gamma"]
    assert loaded.experts == ["alpha", "beta", "gamma"]


def test_route_returns_expert_and_probabilities(loaded: MoLE) -> None:
    routes = loaded.route(QUERIES)
    assert [r.expert for r in routes] == ["alpha", "beta", "gamma", "alpha"]
    for r in routes:
        assert set(r.scores) == {"alpha", "beta", "gamma"}
        assert sum(r.scores.values()) == pytest.approx(1.0)


def test_mixed_batch_rows_equal_running_alone(loaded: MoLE) -> None:
    together = loaded.generate(QUERIES, max_new_tokens=8)
    assert [g.expert for g in together] == ["alpha", "beta", "gamma", "alpha"]
    for query, g in zip(QUERIES, together, strict=True):
        alone = loaded.generate([query], max_new_tokens=8)[0]
        assert alone.text == g.text and alone.expert == g.expert


def test_forced_expert_and_base_differ(loaded: MoLE) -> None:
    q = ["tell me something"]
    texts = {
        name: loaded.generate(q, expert=name, max_new_tokens=10)[0] for name in ("alpha", "beta", "base")
    }
    assert texts["base"].expert == "base" and texts["base"].scores == {}
    assert texts["alpha"].expert == "alpha"
    assert len({t.text for t in texts.values()}) > 1, "adapters must change the output of a random tiny model"


def test_peft_per_row_path_agrees_with_fast_path(loaded: MoLE, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = [g.text for g in loaded.generate(QUERIES, max_new_tokens=8)]
    loaded._mixed = None  # PEFT's own per-row adapter_names
    assert [g.text for g in loaded.generate(QUERIES, max_new_tokens=8)] == fast


def test_top_k_one_equals_single_expert_and_blend_is_cached(loaded: MoLE) -> None:
    single = loaded.generate(QUERIES[:1], max_new_tokens=6, expert="alpha")[0].text
    assert loaded.generate(QUERIES[:1], max_new_tokens=6, top_k=1)[0].text == single
    blended = loaded.generate(QUERIES[:1], max_new_tokens=6, top_k=2)[0]
    assert set(blended.experts) == {"alpha", "beta"} and sum(blended.experts.values()) == pytest.approx(
        1.0, abs=0.02
    )
    adapters_before = set(loaded.model.peft_config)
    loaded.generate(QUERIES[:1], max_new_tokens=6, top_k=2)
    assert set(loaded.model.peft_config) == adapters_before, "the same blend must be reused"


class OneHotRouter(Router):
    """Gives the first expert all the probability (e.g. a confident calibrated router)."""

    kind = "one-hot"

    def predict(self, queries: Sequence[str]) -> list[list[float]]:
        return [[1.0] + [0.0] * (len(self.labels) - 1) for _ in queries]

    def save(self, directory: Path) -> None:  # pragma: no cover
        raise NotImplementedError


def test_top_k_drops_zero_weights(loaded: MoLE) -> None:
    """A blend whose other weights are 0 is the single expert: its label, weights, text and no blend."""
    loaded._router = OneHotRouter(["alpha", "beta", "gamma"])
    single = loaded.generate(QUERIES[:2], max_new_tokens=6, expert="alpha")
    adapters_before = set(loaded.model.peft_config)
    topk = loaded.generate(QUERIES[:2], max_new_tokens=6, top_k=3)
    assert [g.expert for g in topk] == ["alpha", "alpha"]
    assert [g.experts for g in topk] == [{"alpha": 1.0}] * 2
    assert [g.text for g in topk] == [g.text for g in single]
    assert set(loaded.model.peft_config) == adapters_before, "no blend adapter for a single expert"


@pytest.mark.parametrize(
    ("ranked", "blend"),
    [
        ([("a", 0.996), ("b", 0.004)], {"a": 1.0}),
        ([("a", 0.6), ("b", 0.398), ("c", 0.002)], {"a": 0.6, "b": 0.4}),
        ([("a", 0.5), ("b", 0.5)], {"a": 0.5, "b": 0.5}),
        ([("a", 0.0), ("b", 0.0)], {"a": 1.0}),
    ],
)
def test_blend_weights(ranked: list, blend: dict) -> None:
    from mole_core.blending import blend_weights

    assert blend_weights(ranked) == blend


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"expert": "nobody"}, NotFoundError, "no expert 'nobody'"),
        ({"queries": ["ok", "   "]}, MoleError, "query 2 is empty"),
        ({"queries": []}, MoleError, "no queries"),
        ({"top_k": 0}, MoleError, "top_k"),
    ],
)
def test_bad_generate_input(loaded: MoLE, kwargs: dict, error: type, words: str) -> None:
    queries = kwargs.pop("queries", ["fine"])
    with pytest.raises(error, match=words):
        loaded.generate(queries, max_new_tokens=2, **kwargs)


def test_unicode_and_overlong_queries(loaded: MoLE, caplog: pytest.LogCaptureFixture) -> None:
    out = loaded.generate(["Ünïcødé ✓ 漢字 🙂 alpha", "alpha " * 400], max_new_tokens=3)
    assert len(out) == 2
    assert any("truncated" in r.message for r in caplog.records)


def test_tampered_adapter_is_refused_at_load(registry: Registry, adapter_factory) -> None:
    registry.add_expert("alpha", adapter_factory(rank=4))
    weights = registry.root / "experts" / "alpha" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(AdapterError, match="does not match its sha256"):
        MoLE.from_registry(registry.root, load_router=False)


def test_adapter_for_another_base_is_refused_at_load(
    registry: Registry, adapter_factory, other_base: Path
) -> None:
    entry = registry.add_expert("alpha", adapter_factory(rank=4))
    foreign = adapter_factory(rank=4, base=other_base)
    target = registry.root / entry.path
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        (target / name).write_bytes((foreign / name).read_bytes())
    registry.update_expert(
        "alpha",
        sha256=__import__("mole_core.adapters").adapters.sha256_file(target / "adapter_model.safetensors"),
    )
    with pytest.raises(AdapterError, match="does not fit base model"):
        MoLE.from_registry(registry.root, load_router=False)


def test_generate_cli_json_forced_expert(cli, loaded: MoLE) -> None:
    reg = str(loaded.registry.root)
    result = cli(
        "generate", "hello there", "--expert", "beta", "--max-new-tokens", "4", "--json", "--registry", reg
    )
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout.strip().splitlines()[0])
    assert row["expert"] == "beta" and row["query"] == "hello there"
    bad = cli("generate", "hi", "--expert", "nobody", "--registry", reg)
    assert bad.exit_code == 1 and "no expert 'nobody'" in bad.output


def test_expert_added_to_a_running_system_is_attached_and_routed(registry: Registry, adapter_factory) -> None:
    from mole_core.routing import build_embedding_router

    registry.add_expert("alpha", adapter_factory(rank=4), examples=["Solve 2x + 3 = 7 for x"])
    registry.add_expert("beta", adapter_factory(rank=4, seed=2), examples=["Who wrote Hamlet?"])
    mole = MoLE.from_registry(registry.root, router=build_embedding_router(registry.load()))
    entry = registry.add_expert(
        "code",
        adapter_factory(rank=2, seed=3),
        examples=["Write a Python function that reverses a string", "How do I read a CSV file in Python?"],
    )
    mole.add_expert(entry)
    assert "code" in mole.model.peft_config and "code" in mole.router.labels
    assert mole.route(["Write a Python function that sorts a list"])[0].expert == "code"
    assert mole.generate(["Write a Python function that sorts a list"], max_new_tokens=3)[0].expert == "code"


def test_loading_and_generating_leak_no_future_warning(registry: Registry, adapter_factory) -> None:
    """PEFT makes transformers warn about ``is_gradient_checkpointing`` on every PeftModel it builds;
    that is nothing the caller did, so the library hides exactly that warning (and only it)."""
    import warnings

    registry.add_expert("alpha", adapter_factory(rank=4, seed=1))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        mole = MoLE.from_registry(registry.root, load_router=False)
        mole.generate(["hello"], expert="alpha", max_new_tokens=2)
    assert not [w for w in seen if "is_gradient_checkpointing" in str(w.message)]


def test_a_huge_query_is_clipped_before_any_tokenizer_sees_it(loaded: MoLE) -> None:
    """One 20 MB line once took `route` to 3.3 GB: characters are cut (far above what is kept) first."""
    from mole_core.routing import FixedRouter

    seen: list[int] = []

    class Spy(FixedRouter):
        def predict(self, queries):  # noqa: ANN001, ANN202
            seen.extend(len(q) for q in queries)
            return super().predict(queries)

    huge = "word " * 2_000_000
    route = Spy(["a", "b"]).route([huge])[0]
    assert seen == [4096] and route.query == huge

    tokenizer = loaded.tokenizer
    lengths: list[int] = []

    class Recording:
        def __getattr__(self, name: str):  # noqa: ANN204
            return getattr(tokenizer, name)

        def __call__(self, text, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN204
            lengths.extend(len(t) for t in ([text] if isinstance(text, str) else text))
            return tokenizer(text, *args, **kwargs)

    loaded.tokenizer = Recording()
    try:
        assert loaded.generate([huge], max_new_tokens=3, expert="base")[0].new_tokens >= 1
    finally:
        loaded.tokenizer = tokenizer
    assert max(lengths) < 10_000


def test_max_new_tokens_that_leave_no_room_are_refused(loaded: MoLE) -> None:
    from mole_core.runtime import context_length

    context = context_length(loaded.model)
    with pytest.raises(MoleError, match=f"leaves no room for the query in the model's context of {context}"):
        loaded.generate(["hello"], max_new_tokens=context - 32)
    assert loaded.generate(["hello"], max_new_tokens=3)[0].text is not None
