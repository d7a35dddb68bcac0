"""Training a router on synthesized routing data, evaluating it and recording it in the registry."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from .. import atomic
from ..errors import MoleError
from ..progress import Progress
from .base import WEIGHTS_FILE, Router
from .evaluate import RoutingReport, evaluate_routing, read_labelled_file

if TYPE_CHECKING:
    from ..manifest import RouterEntry
    from ..registry import Registry

log = logging.getLogger("mole_core.routing")


class RouterReport(BaseModel):
    """What ``train_router`` did: the data, the training, held-out and real-question accuracy, where it went."""

    kind: str
    labels: list[str]
    path: str
    sha256: str
    seconds: float
    train_size: int
    unique_train: int
    test_size: int
    per_class: dict[str, dict[str, int]]
    training: dict[str, Any]
    held_out: RoutingReport
    evaluations: list[RoutingReport] = Field(default_factory=list)


def train_router(
    registry: Registry,
    kind: str = "minilm",
    *,
    size: int = 10_000,
    epochs: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    test_fraction: float = 0.2,
    dataset_queries: bool = True,
    eval_files: Sequence[str | os.PathLike[str]] = (),
    options: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> RouterReport:
    """Synthesize routing data for the registered experts, train a ``kind`` router, evaluate, save, record it.

    Labels are the registered expert names in manifest order. The router is written into a staging
    directory and renamed into ``routers/<kind>`` before the manifest names it.
    """
    from .. import plugins
    from .data import build_routing_set

    spec = plugins.get_router_spec(kind)
    manifest = registry.load()
    labels = manifest.names()
    if len(labels) < 2:
        raise MoleError(
            f"a router needs at least two registered experts to choose between (registered: {len(labels)})"
        )
    evals = [
        (Path(p), read_labelled_file(p, labels)) for p in eval_files
    ]  # fail on a bad file before training
    started = time.monotonic()
    data = build_routing_set(
        manifest, size, test_fraction=test_fraction, seed=seed, dataset_queries=dataset_queries
    )
    router = spec.build(labels, seed=seed, **(options or {}))
    training = router.fit(
        data.queries("train"),
        data.experts("train"),
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        progress=progress,
    )
    held_out = evaluate_routing(router, data.queries("test"), data.experts("test"), name="held-out templates")
    evaluations = [
        evaluate_routing(router, [r.query for r in rows], [r.expert for r in rows], name=path.name)
        for path, rows in evals
    ]
    seconds = time.monotonic() - started
    metrics: dict[str, Any] = {
        "held_out_accuracy": round(held_out.accuracy, 4),
        "train_size": len(data.train),
        "unique_train": data.unique_train,
        "seed": seed,
        "seconds": round(seconds, 1),
        **{f"eval:{r.name}": round(r.accuracy, 4) for r in evaluations},
    }
    entry = save_router(registry, router, metrics)
    log.info("trained %s router over %s in %.1fs", kind, ", ".join(labels), seconds)
    return RouterReport(
        kind=kind,
        labels=labels,
        path=entry.path,
        sha256=entry.sha256 or "",
        seconds=seconds,
        train_size=len(data.train),
        unique_train=data.unique_train,
        test_size=len(data.test),
        per_class=data.per_class,
        training=training,
        held_out=held_out,
        evaluations=evaluations,
    )


def save_router(registry: Registry, router: Router, metrics: dict[str, Any] | None = None) -> RouterEntry:
    """Write ``router`` into a directory of its own under ``routers/`` and switch the manifest to it (with
    every file's sha256, config included) in one commit; an older router's directory goes only after it."""
    from ..manifest import ROUTERS_DIR, RouterEntry
    from .verify import check_config, file_digests

    staged = atomic.staging_dir(registry.root / ROUTERS_DIR, router.kind)
    try:
        router.save(staged)
        if not (staged / WEIGHTS_FILE).is_file():
            raise MoleError(f"router {router.kind!r} saved no {WEIGHTS_FILE}")
        check_config(staged)
        files = file_digests(staged)
        entry = RouterEntry(
            name=router.kind,
            path=f"{ROUTERS_DIR}/{router.kind}",
            labels=list(router.labels),
            sha256=files[WEIGHTS_FILE],
            files=files,
            metrics=metrics or {},
        )
        with registry.lock():
            manifest = registry.load()
            old = manifest.router
            entry.path = registry.install_dir(staged, ROUTERS_DIR, router.kind, old.path if old else None)
            manifest.router = entry
            registry.write(manifest)  # the switch: from here on the new directory is the router
            retired = atomic.retire(registry.root / old.path) if old is not None else None
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    atomic.delete(retired)
    return entry
