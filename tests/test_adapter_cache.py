"""The adapter cache: LRU order, pins, bounds, and on-demand answers equal to the eager runtime's."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Sequence
from pathlib import Path

import pytest

from mole_core import AdapterError, MoleError, NotFoundError, Registry
from mole_core.adaptercache import AdapterCache, CacheFullError, resolve_capacity
from mole_core.routing import Router
from mole_core.runtime import MoLE

NAMES = ["e0", "e1", "e2", "e3", "e4"]


def recording(capacity: int | None, fail: set[str] | None = None) -> tuple[AdapterCache, list[str]]:
    events: list[str] = []

    def load(name: str) -> None:
        if name in (fail or set()):
            raise AdapterError(f"expert {name!r}: refused")
        events.append(f"+{name}")

    return AdapterCache(capacity, load, lambda name: events.append(f"-{name}")), events


# -- the policy, without a model -----------------------------------------------------------------------
def test_least_recently_used_is_evicted_first() -> None:
    cache, events = recording(2)
    for names in (["a"], ["b"], ["a"], ["c"]):  # b is the least recently used when c arrives
        cache.acquire(names)
        cache.release(names)
    assert events == ["+a", "+b", "-b", "+c"], "room is made before loading, so the bound holds"
    assert cache.loaded == ["a", "c"]
    assert cache.snapshot().model_dump(include={"hits", "loads", "evictions"}) == {
        "hits": 1,
        "loads": 3,
        "evictions": 1,
    }


def test_pinned_adapters_are_never_evicted() -> None:
    cache, events = recording(2)
    cache.acquire(["a"])  # a running batch holds a
    for name in ("b", "c", "d"):
        cache.acquire([name])
        cache.release([name])
    assert "-a" not in events and "a" in cache.loaded
    assert not cache.fits(["x", "y"])
    with pytest.raises(CacheFullError, match="in use"):
        cache.acquire(["x", "y"])
    cache.release(["a"])
    cache.acquire(["x", "y"])
    assert set(cache.loaded) == {"x", "y"}


def test_more_distinct_adapters_than_capacity_is_refused_before_loading() -> None:
    cache, events = recording(2)
    with pytest.raises(CacheFullError, match="3 distinct experts.*at most 2"):
        cache.acquire(["a", "b", "c"])
    assert events == [] and cache.pinned() == []


def test_failed_load_keeps_the_others_and_releases_its_pins() -> None:
    cache, _ = recording(3, fail={"bad"})
    cache.acquire(["a"])
    with pytest.raises(AdapterError):
        cache.acquire(["b", "bad"])
    assert cache.pinned() == ["a"] and set(cache.loaded) == {"a", "b"}
    assert cache.snapshot().failed_loads == 1


def test_resize_evicts_down_to_the_new_bound_sparing_pins() -> None:
    cache, events = recording(4)
    for name in "abcd":
        cache.acquire([name])
        cache.release([name])
    cache.acquire(["a"])  # a is the oldest but in use
    cache.resize(2)
    assert events[-2:] == ["-b", "-c"] and cache.loaded == ["d", "a"]
    cache.resize(None)
    cache.acquire(["x", "y", "z"])
    assert len(cache.loaded) == 5


def test_capacity_one_swaps_without_leaving_nothing_attached() -> None:
    cache, events = recording(1)
    cache.acquire(["a"])
    cache.release(["a"])
    cache.acquire(["b"])
    assert events == ["+a", "+b", "-a"] and cache.loaded == ["b"]


@pytest.mark.parametrize(
    ("value", "env", "expected"), [(3, None, 3), ("all", None, None), (None, "7", 7), (None, "ALL", None)]
)
def test_capacity_from_argument_or_environment(
    value: object, env: str | None, expected: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MOLE_MAX_LOADED_EXPERTS", raising=False)
    if env is not None:
        monkeypatch.setenv("MOLE_MAX_LOADED_EXPERTS", env)
    assert resolve_capacity(value) == expected


@pytest.mark.parametrize("bad", [0, -1, "many", "2.5"])
def test_bad_capacity_is_a_one_line_error(bad: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOLE_MAX_LOADED_EXPERTS", raising=False)
    with pytest.raises(MoleError, match="positive integer or 'all'"):
        resolve_capacity(bad)
    monkeypatch.setenv("MOLE_MAX_LOADED_EXPERTS", str(bad))
    with pytest.raises(MoleError, match="MOLE_MAX_LOADED_EXPERTS"):
        resolve_capacity(None)


# -- the runtime on a tiny Llama -------------------------------------------------------------------------
class ByName(Router):
    """Routes a query to the expert it names (deterministic)."""

    kind = "by-name"

    def predict(self, queries: Sequence[str]) -> list[list[float]]:
        return [[1.0 if label in q.split() else 0.0 for label in self.labels] for q in queries]

    def save(self, directory: Path) -> None:  # pragma: no cover - never saved
        raise NotImplementedError


@pytest.fixture
def five(registry: Registry, adapter_factory) -> Registry:
    for i, name in enumerate(NAMES):
        registry.add_expert(name, adapter_factory(rank=(2, 4, 8)[i % 3], seed=10 + i))
    return registry


def load(registry: Registry, cap: int | str) -> MoLE:
    return MoLE.from_registry(registry.root, router=ByName(NAMES), max_loaded_experts=cap)


QUERIES = [f"{name} question {i}" for i, name in enumerate(["e0", "e1", "e2", "e3", "e0", "e4", "e1"])]


def test_a_large_registry_attaches_nothing_until_used(five: Registry) -> None:
    mole = load(five, 2)
    assert mole.cache.loaded == [] and mole.max_loaded_experts == 2
    mole.generate(["e3 hello"], max_new_tokens=2)
    assert mole.cache.loaded == ["e3"] and set(mole.model.peft_config) == {"e3"}
    assert load(five, 5).cache.loaded == NAMES, "a registry that fits is attached whole at start"


def test_on_demand_answers_equal_the_eager_runtime(five: Registry) -> None:
    eager = [g.text for g in load(five, "all").generate(QUERIES, max_new_tokens=6)]
    paged = load(five, 2)
    out = paged.generate(QUERIES, max_new_tokens=6)  # 5 distinct experts, 2 at a time: 3 sub-batches
    assert [g.text for g in out] == eager
    assert [g.expert for g in out] == [q.split()[0] for q in QUERIES]
    assert len(paged.cache.loaded) <= 2 and paged.cache.snapshot().evictions >= 3
    for name in ("e4", "e0", "e2"):  # forced experts, cold and warm alike
        assert paged.generate([QUERIES[0]], expert=name, max_new_tokens=6)[0].text == (
            load(five, "all").generate([QUERIES[0]], expert=name, max_new_tokens=6)[0].text
        )


def test_in_use_adapter_survives_other_batches(five: Registry) -> None:
    mole = load(five, 2)
    with mole.use(["e0"]):
        for name in ("e1", "e2", "e3"):
            mole.generate([f"{name} hi"], max_new_tokens=2)
            assert "e0" in mole.model.peft_config
        with pytest.raises(CacheFullError):
            mole.ensure_loaded(["e3", "e4"])
    assert mole.cache.pinned() == []
    with pytest.raises(NotFoundError, match="no expert 'nobody'"):
        mole.ensure_loaded(["nobody"])


def test_evicted_adapter_memory_is_released(five: Registry) -> None:
    mole = load(five, 2)
    mole.generate(["e0 a", "e1 b"], max_new_tokens=2)  # a mixed batch: the fast path stacks e0 and e1
    weights = [
        weakref.ref(m.lora_A["e0"].weight) for m in mole.model.modules() if "e0" in getattr(m, "lora_A", {})
    ]
    assert weights
    mole.generate(["e2 c", "e3 d"], max_new_tokens=2)
    gc.collect()
    assert "e0" not in mole.model.peft_config
    assert all(ref() is None for ref in weights), "PEFT or the fast path still holds an evicted adapter"
    stacked = [key for per_layer in mole._mixed._stacks.values() for key in per_layer]
    assert stacked and all("e0" not in key for key in stacked), "its stacked copies must go with it"


def test_tampered_adapter_refused_at_first_use_others_still_served(five: Registry) -> None:
    mole = load(five, 2)
    before = mole.generate(["e1 fine"], max_new_tokens=4)[0].text
    weights = five.root / "experts" / "e3" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(AdapterError, match="e3.*does not match its sha256") as caught:
        mole.generate(["e3 tampered", "e1 fine"], max_new_tokens=4)
    assert "\n" not in str(caught.value)
    assert "e3" not in mole.model.peft_config and "e3" not in mole.cache.loaded
    assert mole.cache.pinned() == []
    assert mole.generate(["e1 fine"], max_new_tokens=4)[0].text == before
    assert mole.generate(["e4 other"], max_new_tokens=2)[0].expert == "e4"


def test_attaching_from_verified_bytes_equals_peft_load_adapter(five: Registry) -> None:
    import torch
    from peft import PeftModel

    mole = load(five, "all")
    fresh = MoLE.from_registry(five.root, router=ByName(NAMES), max_loaded_experts=1)
    base = fresh.model  # nothing attached yet: the bare base model
    peft = PeftModel.from_pretrained(base, str(five.expert_dir("e2")), adapter_name="e2")
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.inference_mode():
        ours = mole.model(ids, adapter_names=["e2"]).logits
        theirs = peft(ids).logits
    assert torch.equal(ours, theirs)


def test_add_expert_after_loading_respects_the_bound(five: Registry, adapter_factory) -> None:
    mole = load(five, 2)
    mole.generate(["e0 a", "e1 b"], max_new_tokens=2)
    entry = five.add_expert("e5", adapter_factory(rank=4, seed=99))
    mole.add_expert(entry)
    assert "e5" in mole.cache.loaded and len(mole.cache.loaded) == 2
    assert mole.generate(["x"], expert="e5", max_new_tokens=2)[0].expert == "e5"
    with pytest.raises(MoleError, match="already loaded"):
        mole.add_expert(entry)


def test_cli_generate_with_a_small_cache(five: Registry, cli) -> None:
    out = cli(
        "generate", "hello", "--expert", "e2", "--max-new-tokens", "2", "--max-loaded-experts", "1",
        "--registry", str(five.root), "--json",
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert '"expert": "e2"' in out.output
    bad = cli(
        "generate", "hello", "--expert", "e2", "--max-loaded-experts", "0", "--registry", str(five.root)
    )
    assert bad.exit_code != 0 and "max-loaded-experts" in bad.output


def test_eval_scores_every_expert_through_a_small_cache(five: Registry) -> None:
    from mole_core.evaluation import paged, score_items
    from mole_core.specs import TextExample

    sets = {
        "mixed": [
            TextExample(prompt="What is two plus two?", completion=" Four."),
            TextExample(prompt="Name a colour.", completion=" Blue."),
        ]
    }
    eager = load(five, "all")
    expected = score_items(eager.model, eager.tokenizer, NAMES, sets)
    paged_mole = load(five, 1)
    got = score_items(
        paged_mole.model, paged_mole.tokenizer, NAMES, sets, attached=lambda name: paged(paged_mole, name)
    )
    assert got == expected
    assert paged_mole.cache.loaded == [NAMES[-1]] and paged_mole.cache.snapshot().loads == len(NAMES)
