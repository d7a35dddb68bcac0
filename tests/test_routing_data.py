"""Routing data: balanced, de-duplicated, seeded, held out by template, fed by the registry's experts."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from mole_core import MoleError, RoutingExamples, plugins
from mole_core.routing.data import ExpertRouting, build_routing_set, expert_routing, fill_template, synthesize

PAPER = ["reasoning", "knowledge", "qa", "factoid"]


def paper_sources() -> list[ExpertRouting]:
    cat = plugins.catalogue()
    return [
        ExpertRouting(name=n, routing=cat.experts[n].routing, dataset=cat.experts[n].dataset) for n in PAPER
    ]


@pytest.fixture(scope="module")
def paper_set():  # noqa: ANN201
    return synthesize(paper_sources(), 800, seed=3)


def test_every_paper_expert_has_dozens_of_templates_and_broad_fillers() -> None:
    for name in PAPER:
        routing = plugins.get_expert_spec(name).routing
        assert len(routing.templates) >= 40, name
        assert sum(len(v) for v in routing.slots.values()) >= 300, name
        assert len(routing.examples) >= 32, name  # add-expert records the first 32 for the embedding router


def test_balanced_per_class(paper_set) -> None:  # noqa: ANN001
    assert Counter(paper_set.experts("train")) == {name: 200 for name in PAPER}
    assert Counter(paper_set.experts("test")) == {name: 40 for name in PAPER}
    assert paper_set.labels == PAPER


def test_test_never_shares_a_template_or_query_with_training(paper_set) -> None:  # noqa: ANN001
    train_ids = {item.template_id for item in paper_set.train}
    test_ids = {item.template_id for item in paper_set.test}
    assert train_ids and test_ids
    assert not train_ids & test_ids
    assert not {q.lower() for q in paper_set.queries("train")} & {
        q.lower() for q in paper_set.queries("test")
    }
    for name in PAPER:  # every expert has held-out templates, not just held-out items
        assert any(i.startswith(f"{name}/template/") for i in test_ids), name


def test_queries_are_unique_unlike_the_papers_40_strings(paper_set) -> None:  # noqa: ANN001
    queries = paper_set.queries("train")
    assert paper_set.unique_train == len(set(queries)) == len(queries)
    # the paper's recipe: 10 strings per expert, repeated to fill the set
    paper_style = [
        ExpertRouting(name=n, routing=RoutingExamples(examples=s.routing.examples[:10]))
        for n, s in zip(PAPER, paper_sources(), strict=True)
    ]
    repeated = synthesize(paper_style, 800, seed=3, test_fraction=0)
    assert len(repeated.train) == 800
    assert repeated.unique_train == 40
    assert repeated.per_class["qa"]["unique_train"] == 10


def test_same_seed_same_set_other_seed_other_set() -> None:
    a = synthesize(paper_sources(), 200, seed=1)
    b = synthesize(paper_sources(), 200, seed=1)
    c = synthesize(paper_sources(), 200, seed=2)
    assert a.train == b.train and a.test == b.test
    assert a.queries() != c.queries()


def test_dataset_queries_can_be_switched_off() -> None:
    on = synthesize(paper_sources(), 400, seed=0)
    off = synthesize(paper_sources(), 400, seed=0, dataset_queries=False)
    gsm8k = {e.prompt for e in plugins.get_dataset_spec("gsm8k").load("train", offline=True)}
    from_dataset = [i for i in on.train if i.template_id.startswith("reasoning/dataset/")]
    assert from_dataset and all(i.query in gsm8k for i in from_dataset)
    assert not any("/dataset/" in i.template_id for i in off.train + off.test)


def test_fill_template_reuses_a_slot_and_inserts_fillers_verbatim() -> None:
    slots = {"name": ["Ana", "Bo"], "expr": ["$\\frac{1}{2}$"]}
    for seed in range(5):
        text = fill_template("{name} and {name} compute {expr}", slots, random.Random(seed))
        first, _, rest = text.partition(" and ")
        assert rest.startswith(first + " compute ")
        assert text.endswith("$\\frac{1}{2}$")


def test_registered_expert_without_spec_contributes_its_manifest_examples(registry, adapter_factory) -> None:  # noqa: ANN001
    registry.add_expert("reasoning", adapter_factory(rank=4, seed=1))
    registry.add_expert("factoid", adapter_factory(rank=4, seed=2))
    legal = [f"Is clause {i} of this lease enforceable in court?" for i in range(10)]
    registry.add_expert("legal", adapter_factory(rank=4, seed=3), examples=legal)
    data = build_routing_set(registry.load(), 300, seed=0)
    assert data.labels == ["reasoning", "factoid", "legal"]
    mine = [i for i in data.train + data.test if i.expert == "legal"]
    assert {i.query for i in mine} == set(legal)  # nothing else, and every example is used
    assert Counter(data.experts("train"))["legal"] == 100  # balanced by repeating its few examples
    held = {i.query for i in data.test if i.expert == "legal"}
    assert held and not held & set(data.queries("train"))  # split by item


def test_expert_with_nothing_to_learn_from_is_a_clear_error(registry, adapter_factory) -> None:  # noqa: ANN001
    registry.add_expert("mystery", adapter_factory(rank=4, seed=1))
    with pytest.raises(MoleError, match="mystery.*--example"):
        expert_routing(registry.load())


def test_size_smaller_than_expert_count_is_refused() -> None:
    with pytest.raises(MoleError, match="smaller than the number of experts"):
        synthesize(paper_sources(), 3)
