"""Routing quality on data the project does not train on: ``python -m benchmarks.routing_quality``.

* **manydomain**: ten experts registered only with a task and ~20 example queries each. K-fold
  cross-validation over each domain's registration examples: a fold's examples are held out, the
  rest registered (``add-expert --task --example`` in memory); the off-topic requests are split into
  the same K folds, so the fallback is measured on requests the router never saw.
* **paper**: the four paper experts (their plugin templates), checked on the 95 dev questions (never
  trained on) and on held-out off-topic folds.

Figures per router: in-domain accuracy with and without the fallback, the share of off-topic
requests sent to the base model, calibration error. Data comes from ``--data`` (the shared data
folder: ``manydomain/`` and ``router-dev/``); nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

from mole_core.manifest import BaseModelRef, ExpertEntry, Manifest
from mole_core.routing import BASE, evaluate_routing
from mole_core.routing.load import build_embedding_router
from mole_core.routing.negatives import bundled_negatives
from mole_core.routing.train import fit_router


def entry(name: str, task: str, examples: list[str] | None = None) -> ExpertEntry:
    return ExpertEntry(
        name=name,
        task=task,
        rank=8,
        alpha=8,
        target_modules=["q_proj"],
        base_model="base",
        path=f"experts/{name}",
        examples=examples or [],
    )


def manifest(entries: list[ExpertEntry]) -> Manifest:
    return Manifest(base=BaseModelRef(id="base"), experts=entries)


def folds(items: list[Any], k: int, seed: int) -> list[list[Any]]:
    shuffled = random.Random(seed).sample(items, len(items))
    return [shuffled[i * len(items) // k : (i + 1) * len(items) // k] for i in range(k)]


def score(router: Any, queries: list[str], labels: list[str], negatives: list[str]) -> dict[str, Any]:
    """In-domain accuracy (fallback counts wrong), accuracy without fallback, off-topic to base, ECE."""
    in_domain = evaluate_routing(router, queries, labels)
    threshold, router.min_confidence = router.min_confidence, 0.0
    raw = evaluate_routing(router, queries, labels)
    router.min_confidence = threshold
    off = router.route(negatives) if negatives else []
    return {
        "n": len(queries),
        "accuracy": in_domain.accuracy,
        "accuracy_no_fallback": raw.accuracy,
        "in_domain_to_base": in_domain.fallback_rate,
        "offtopic_n": len(off),
        "offtopic_to_base": sum(r.expert == BASE for r in off) / max(1, len(off)),
        "ece": in_domain.ece,
        "min_confidence": threshold,
        "temperature": router.calibration_temperature,
        "mistakes": [m.model_dump() for m in in_domain.mistakes[:8]],
    }


def average(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [
        "accuracy",
        "accuracy_no_fallback",
        "in_domain_to_base",
        "offtopic_to_base",
        "ece",
        "min_confidence",
    ]
    out = {k: round(sum(r[k] for r in runs) / len(runs), 4) for k in keys}
    out["n"] = sum(r["n"] for r in runs)
    out["offtopic_n"] = sum(r["offtopic_n"] for r in runs)
    return out


def manydomain(data: Path, kinds: list[str], k: int, seed: int, size: int) -> dict[str, Any]:
    rows = [
        json.loads(line) for line in (data / "manydomain/examples.jsonl").read_text().splitlines() if line
    ]
    tasks = {
        name: d["task"] for name, d in json.loads((data / "manydomain/domains.json").read_text()).items()
    }
    by = {name: folds([r["query"] for r in rows if r["expert"] == name], k, seed) for name in tasks}
    neg = folds(bundled_negatives(), k, seed)
    results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for f in range(k):
        train = {n: [q for i, part in enumerate(by[n]) if i != f for q in part] for n in tasks}
        test = [(q, n) for n in tasks for q in by[n][f]]
        neg_train = [q for i, part in enumerate(neg) if i != f for q in part]
        m = manifest([entry(n, tasks[n], train[n]) for n in tasks])
        for kind in kinds:
            started = time.monotonic()
            if kind == "embedding-untrained":
                router = build_embedding_router(m, negatives=neg_train)
            else:
                router, *_ = fit_router(m, kind, size=size, seed=seed, negatives=neg_train)
            result = score(router, [q for q, _ in test], [n for _, n in test], neg[f])
            result["seconds"] = round(time.monotonic() - started, 1)
            results[kind].append(result)
            print(
                f"fold {f} {kind}: {json.dumps({x: result[x] for x in result if x != 'mistakes'})}",
                flush=True,
            )
    return {kind: {**average(runs), "folds": runs} for kind, runs in results.items()}


def paper(data: Path, kinds: list[str], k: int, seed: int, size: int) -> dict[str, Any]:
    from mole_core import plugins

    dev = [
        json.loads(line)
        for line in (data / "router-dev/real_questions_dev.jsonl").read_text().splitlines()
        if line
    ]
    names = ["reasoning", "knowledge", "qa", "factoid"]
    m = manifest([entry(n, plugins.get_expert_spec(n).task) for n in names])
    neg = folds(bundled_negatives(), k, seed)
    neg_train = [q for part in neg[1:] for q in part]
    out = {}
    for kind in kinds:
        started = time.monotonic()
        if kind == "embedding-untrained":
            for e in m.experts:
                e.examples = plugins.get_expert_spec(e.name).routing.examples[:32]
            router = build_embedding_router(m, negatives=neg_train)
        else:
            router, *_ = fit_router(m, kind, size=size, seed=seed, negatives=neg_train)
        result = score(router, [r["query"] for r in dev], [r["expert"] for r in dev], neg[0])
        result["seconds"] = round(time.monotonic() - started, 1)
        print(f"paper {kind}: {json.dumps({x: result[x] for x in result if x != 'mistakes'})}", flush=True)
        out[kind] = result
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--kinds", default="embedding-untrained,minilm")
    parser.add_argument("--suite", choices=["manydomain", "paper", "both"], default="both")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    report: dict[str, Any] = {}
    if args.suite in ("manydomain", "both"):
        report["manydomain"] = manydomain(args.data, kinds, args.folds, args.seed, args.size)
    if args.suite in ("paper", "both"):
        report["paper"] = paper(args.data, kinds, args.folds, args.seed, args.size)
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(
        json.dumps(
            {
                s: {k: {x: v for x, v in r.items() if x not in ("folds", "mistakes")} for k, r in d.items()}
                for s, d in report.items()
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
