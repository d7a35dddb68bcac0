"""Training a router on synthesized routing data, evaluating it and recording it in the registry."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import BaseModel, Field

from .. import atomic
from ..errors import MoleError
from ..progress import Progress
from .base import WEIGHTS_FILE, Router
from .calibrate import BASE, ThresholdChoice, calibrate, choose_min_confidence, fit_temperature
from .data import RoutingSet, build_routing_set
from .evaluate import RoutingReport, evaluate_routing, read_labelled_file
from .negatives import gather_negatives

if TYPE_CHECKING:
    from ..manifest import Manifest, RouterEntry
    from ..registry import Registry

log = logging.getLogger("mole_core.routing")

FEW_SHOT = 100
"""An expert with fewer unique training queries than this is few-shot: the router is refitted on its
held-out examples too, once they have served for calibration."""


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
    calibration: Calibration
    evaluations: list[RoutingReport] = Field(default_factory=list)


class Fitted(NamedTuple):
    """What :func:`fit_router` made: the router, its data, training metrics, calibration, held-out report."""

    router: Router
    data: RoutingSet
    training: dict[str, Any]
    calibration: Calibration
    held_out: RoutingReport


class Calibration(BaseModel):
    """The fitted temperature and the fallback threshold, and how the threshold was set."""

    temperature: float
    min_confidence: float
    chosen_by: str = Field(description="'held-out' (chosen automatically) or 'user' (--min-confidence).")
    negatives_train: int
    negatives_held_out: int
    choice: ThresholdChoice | None = None

    def summary(self) -> str:
        line = f"calibration: temperature {self.temperature:.3g}; min_confidence {self.min_confidence:.2f}"
        if self.chosen_by == "user":
            return line + " (set by --min-confidence)" + ("; fallback off" if not self.min_confidence else "")
        c = self.choice
        if c is None:
            return line + " (no off-topic negatives: fallback off)"
        return (
            f"{line} (chosen on held-out: in-domain accuracy {c.accuracy_without:.3f} -> {c.accuracy_with:.3f}, "
            f"{c.negatives_to_base:.0%} of {c.negatives} held-out off-topic requests to base)"
        )


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
    negatives: Sequence[str | os.PathLike[str]] = (),
    bundled_negatives: bool = True,
    min_confidence: float | None = None,
    options: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> RouterReport:
    """Synthesize routing data for the registered experts, train a ``kind`` router, evaluate, save, record it.

    Labels are the registered expert names in manifest order, then ``base``, learnt from off-topic
    requests (the bundled ones and each ``negatives`` file). Scores are calibrated by a temperature
    fitted on the held-out split, and ``min_confidence`` (below it a query goes to the base model) is
    chosen there too unless given (0 disables the fallback). The router is written into a staging
    directory and renamed into ``routers/<kind>`` before the manifest names it.
    """
    manifest = registry.load()
    labels = manifest.names()
    evals = [
        (Path(p), read_labelled_file(p, labels)) for p in eval_files
    ]  # fail on a bad file before training
    started = time.monotonic()
    router, data, training, calibration, held_out = fit_router(
        manifest,
        kind,
        size=size,
        seed=seed,
        test_fraction=test_fraction,
        dataset_queries=dataset_queries,
        negatives=gather_negatives(negatives, bundled=bundled_negatives),
        min_confidence=min_confidence,
        options=options,
        fit_options={"epochs": epochs, "lr": lr, "batch_size": batch_size, "progress": progress},
    )
    evaluations = [
        evaluate_routing(router, [r.query for r in rows], [r.expert for r in rows], name=path.name)
        for path, rows in evals
    ]
    seconds = time.monotonic() - started
    return _save_and_report(
        registry, router, kind, data, training, calibration, held_out, evaluations, seed, seconds
    )


def _save_and_report(
    registry: Registry,
    router: Router,
    kind: str,
    data: RoutingSet,
    training: dict[str, Any],
    calibration: Calibration,
    held_out: RoutingReport,
    evaluations: list[RoutingReport],
    seed: int,
    seconds: float,
) -> RouterReport:
    """Record the trained router in the registry, with the figures a later `mole show` explains."""
    metrics: dict[str, Any] = {
        "held_out_accuracy": round(held_out.accuracy, 4),
        "calibration": calibration.model_dump(exclude={"temperature", "min_confidence"}, exclude_none=True),
        "train_size": len(data.train),
        "unique_train": data.unique_train,
        "seed": seed,
        "seconds": round(seconds, 1),
        **{f"eval:{r.name}": round(r.accuracy, 4) for r in evaluations},
    }
    entry = save_router(registry, router, metrics)
    log.info("trained %s router over %s in %.1fs", kind, ", ".join(router.labels), seconds)
    return RouterReport(
        kind=kind,
        labels=list(router.labels),
        path=entry.path,
        sha256=entry.sha256 or "",
        seconds=seconds,
        train_size=len(data.train),
        unique_train=data.unique_train,
        test_size=held_out.n,
        per_class=data.per_class,
        training=training,
        held_out=held_out,
        calibration=calibration,
        evaluations=evaluations,
    )


def fit_router(
    manifest: Manifest,
    kind: str = "minilm",
    *,
    size: int = 10_000,
    seed: int = 0,
    test_fraction: float = 0.2,
    dataset_queries: bool = True,
    negatives: Sequence[str] = (),
    min_confidence: float | None = None,
    options: dict[str, Any] | None = None,
    fit_options: dict[str, Any] | None = None,
) -> Fitted:
    """Train and calibrate a ``kind`` router for ``manifest``'s experts, saving nothing.

    ``negatives`` (off-topic request texts) become the ``base`` output; ``fit_options`` go to
    :meth:`Router.fit` (epochs, lr, batch_size, progress). The held-out report is measured before a
    few-shot refit (which trains on the held-out examples too).
    """
    from .. import plugins

    spec = plugins.get_router_spec(kind)
    if len(manifest.names()) < 2:
        raise MoleError(
            f"a router needs at least two registered experts to choose between (registered: {len(manifest.names())})"
        )
    if min_confidence is not None and not 0 <= min_confidence <= 1:
        raise MoleError(f"min_confidence must be between 0 and 1, got {min_confidence}")
    data = build_routing_set(
        manifest,
        size,
        test_fraction=test_fraction,
        seed=seed,
        dataset_queries=dataset_queries,
        negatives=negatives,
    )
    router = spec.build(data.labels, seed=seed, **(options or {}))
    training = router.fit(data.queries("train"), data.experts("train"), seed=seed, **(fit_options or {}))
    calibration = calibrate_router(router, data, min_confidence)
    in_domain = [item for item in data.test if item.expert != BASE]
    held_out = evaluate_routing(
        router, [i.query for i in in_domain], [i.expert for i in in_domain], name="held-out templates"
    )
    few = [n for n, c in data.per_class.items() if n != BASE and c["unique_train"] < FEW_SHOT]
    if few and router.fits_from_scratch:  # ~20 examples each: the held-out fifth is worth training on
        log.info("refitting on the held-out examples too (few-shot experts: %s)", ", ".join(few))
        full = build_routing_set(
            manifest, size, test_fraction=0.0, seed=seed, dataset_queries=dataset_queries, negatives=negatives
        )
        training = router.fit(full.queries("train"), full.experts("train"), seed=seed, **(fit_options or {}))
        training["refit"] = True
    return Fitted(router, data, training, calibration, held_out)


def calibrate_router(router: Router, data: RoutingSet, min_confidence: float | None) -> Calibration:
    """Fit the router's temperature on the held-out split, then its threshold (unless given)."""
    labels = list(router.labels)
    test = [item for item in data.test if item.expert in labels]
    rows = router.predict([item.query for item in test]) if test else []
    router.calibration_temperature = fit_temperature(rows, [labels.index(item.expert) for item in test])
    scores = [dict(zip(labels, row, strict=True)) for row in calibrate(rows, router.calibration_temperature)]
    in_domain = [(s, item.expert) for s, item in zip(scores, test, strict=True) if item.expert != BASE]
    negatives = [s for s, item in zip(scores, test, strict=True) if item.expert == BASE]
    counts = {"negatives_train": data.per_class.get(BASE, {}).get("unique_train", 0)}
    counts["negatives_held_out"] = len(negatives)
    if min_confidence is not None:
        router.min_confidence = float(min_confidence)
        return Calibration(
            temperature=router.calibration_temperature,
            min_confidence=router.min_confidence,
            chosen_by="user",
            **counts,
        )
    if not negatives:
        router.min_confidence = 0.0
        return Calibration(
            temperature=router.calibration_temperature, min_confidence=0.0, chosen_by="held-out", **counts
        )
    choice = choose_min_confidence(in_domain, negatives)
    router.min_confidence = choice.min_confidence
    return Calibration(
        temperature=router.calibration_temperature,
        min_confidence=choice.min_confidence,
        chosen_by="held-out",
        choice=choice,
        **counts,
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
            temperature=router.calibration_temperature,
            min_confidence=router.min_confidence,
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
