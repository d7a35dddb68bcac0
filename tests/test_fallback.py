"""A query no expert fits reaches the bare base model: same text as forcing 'base', on every path."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from mole_core import Registry
from mole_core.routing import BASE, Router, load_router
from mole_core.runtime import MoLE


class KeywordOrBase(Router):
    """An expert whose name is in the query scores high; any other query is mostly 'base'."""

    kind = "keyword-or-base"

    def predict(self, queries: Sequence[str]) -> list[list[float]]:
        rows = []
        for query in queries:
            hits = [3.0 if label in query else 0.2 for label in self.labels]
            if not any(label in query for label in self.labels if label != BASE):
                hits[self.labels.index(BASE)] = 5.0
            rows.append([h / sum(hits) for h in hits])
        return rows

    def save(self, directory: Path) -> None:  # pragma: no cover
        raise NotImplementedError


@pytest.fixture
def mole(registry: Registry, adapter_factory) -> MoLE:  # noqa: ANN001
    for name, rank, seed in (("alpha", 8, 1), ("beta", 4, 2)):
        registry.add_expert(name, adapter_factory(rank=rank, seed=seed))
    router = KeywordOrBase(["alpha", "beta", BASE])
    router.min_confidence = 0.4
    return MoLE.from_registry(registry.root, router=router)


def test_fallback_query_generates_exactly_what_the_bare_base_generates(mole: MoLE) -> None:
    queries = ["what should I cook tonight?", "alpha: add two numbers"]
    routed = mole.generate(queries, max_new_tokens=8)
    forced_base = mole.generate(queries[:1], max_new_tokens=8, expert=BASE)[0]
    forced_alpha = mole.generate(queries[1:], max_new_tokens=8, expert="alpha")[0]
    assert routed[0].expert == BASE and routed[0].experts == {}
    assert routed[0].text == forced_base.text
    assert routed[0].scores[BASE] > 0.5  # the router's scores are still reported
    assert routed[1].expert == "alpha" and routed[1].text == forced_alpha.text
    assert routed[0].text != forced_alpha.text or routed[1].text != forced_base.text
    blended = mole.generate(queries[:1], max_new_tokens=8, top_k=2)[0]
    assert blended.expert == BASE and blended.text == forced_base.text  # no blend for a fallback


def test_route_gives_the_reason(mole: MoLE) -> None:
    route = mole.route(["what should I cook tonight?"])[0]
    assert route.expert == BASE and "min_confidence 0.40" in route.reason


def test_threshold_zero_never_falls_back(mole: MoLE) -> None:
    mole.router.min_confidence = 0.0
    route = mole.route(["what should I cook tonight?"])[0]
    assert route.expert in ("alpha", "beta") and route.reason is None


def sql_and_shell(registry: Registry, adapter_factory) -> Registry:  # noqa: ANN001
    registry.add_expert(
        "sql",
        adapter_factory(rank=4, seed=1),
        task="Turn a question about a database into an SQL query",
        examples=[
            "Show the names of all singers older than 30.",
            "How many employees work in each department?",
        ],
    )
    registry.add_expert(
        "shell",
        adapter_factory(rank=4, seed=2),
        task="Write a one-line bash command",
        examples=["Find all .log files under /var and delete them", "Count the lines in every .py file"],
    )
    return registry


def test_untrained_embedding_router_sends_offtopic_requests_to_base(
    registry: Registry, adapter_factory
) -> None:  # noqa: ANN001
    router = load_router(sql_and_shell(registry, adapter_factory))
    assert router.labels == ["sql", "shell", BASE] and router.min_confidence > 0
    routes = router.route(
        [
            "List the titles of all albums released after 2000.",
            "Give me a recipe for lemon cake.",
            "Tell me a joke about cats.",
        ]
    )
    assert [r.expert for r in routes] == ["sql", BASE, BASE]


def test_eval_file_reports_fallback_calibration_and_coverage(
    cli, registry: Registry, adapter_factory, tmp_path: Path
) -> None:  # noqa: ANN001
    sql_and_shell(registry, adapter_factory)
    rows = [
        ("Show the titles of all albums released after 2000.", "sql"),
        ("List every department with more than ten employees.", "sql"),
        ("Delete all empty directories under the current folder", "shell"),
        ("Plan a weekend trip to Lisbon for two.", "base"),
    ]
    path = tmp_path / "labelled.jsonl"
    path.write_text("".join(json.dumps({"query": q, "expert": e}) + "\n" for q, e in rows))
    args = ["eval", "--file", str(path), "--n-texts", "0", "--n-gsm8k", "0", "--registry", str(registry.root)]
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    routing = json.loads(result.stdout)["routing"]
    assert routing["n"] == 4 and 0 < routing["fallback_rate"] <= 1 and routing["recall"][BASE] == 1.0
    assert 0 <= routing["ece"] <= 1 and [r["coverage"] for r in routing["coverage"]][0] == 1.0
    text = cli(*args).stdout
    assert "to base" in text and "ECE" in text and "accuracy vs coverage" in text
