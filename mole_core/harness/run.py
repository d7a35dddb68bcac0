"""``mole eval --tasks``: lm-evaluation-harness tasks on the routed system, one expert, or all side by side.

One base model is loaded; each configuration (``base``, every expert, ``routed``) is a
:class:`~mole_core.harness.model.MoleLM` over it, evaluated by ``lm_eval.simple_evaluate`` on the
same items (``limit`` takes the first N documents of each task). With every expert evaluated, the
oracle is computed from lm-eval's per-document scores: per document, the best expert's score.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..errors import MoleError
from ..progress import Progress
from ..registry import Registry

log = logging.getLogger(__name__)

ROUTED = "routed"
ORACLE = "oracle"


class Score(BaseModel):
    """One metric of one task (``filter`` is lm-eval's answer-extraction variant, ``none`` if it has none)."""

    task: str
    metric: str
    filter: str = "none"
    value: float | None
    stderr: float | None = None
    higher_is_better: bool | None = None

    @property
    def key(self) -> str:
        return f"{self.task} {self.metric}" + ("" if self.filter == "none" else f" ({self.filter})")


class Configuration(BaseModel):
    """One column: ``base``, an expert, ``routed`` or ``oracle``."""

    name: str
    scores: list[Score]
    routed_to: dict[str, int] = Field(default_factory=dict, description="Requests per expert (routed).")
    samples: dict[str, int] = Field(default_factory=dict, description="Documents scored per task.")
    seconds: float = 0.0


class HarnessReport(BaseModel):
    registry: str
    base: str
    tasks: list[str]
    limit: int | None = None
    num_fewshot: int | None = None
    include_paths: list[str] = Field(default_factory=list)
    configurations: list[Configuration] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    seconds: float = 0.0

    def column(self, name: str) -> Configuration | None:
        return next((c for c in self.configurations if c.name == name), None)


def bundled_task_paths() -> list[Path]:
    """Folders of lm-eval task YAMLs the installed plugins ship (``DatasetSpec.lm_eval_tasks``)."""
    from .. import plugins

    paths = [spec.lm_eval_tasks for spec in plugins.catalogue().datasets.values() if spec.lm_eval_tasks]
    return list(dict.fromkeys(p for p in paths if p.is_dir()))


@contextmanager
def offline_mode(offline: bool) -> Iterator[None]:
    """With ``offline``, the Hub and ``datasets`` make no network calls for the duration (both read
    their switches at import, so the module constants are set too); online, nothing is forced."""
    if not offline:
        yield
        return
    import datasets
    import huggingface_hub.constants as hub_constants

    names = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    saved_env = {n: os.environ.get(n) for n in names}
    saved = (hub_constants.HF_HUB_OFFLINE, getattr(datasets.config, "HF_HUB_OFFLINE", None))
    os.environ.update(dict.fromkeys(names, "1"))
    hub_constants.HF_HUB_OFFLINE = True
    datasets.config.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        for n, value in saved_env.items():
            if value is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = value
        hub_constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE = saved


def _import_lm_eval() -> Any:
    try:
        import lm_eval
    except ImportError as exc:
        raise MoleError(
            'lm-evaluation-harness is not installed: pip install "mole-lora[eval]" (lm-eval 0.4.x)'
        ) from exc
    for name in ("lm_eval", "lm-eval"):  # its INFO/WARNING chatter drowns the table; -v shows ours
        logging.getLogger(name).setLevel(max(logging.ERROR, logging.getLogger().level))
    return lm_eval


def scores(results: dict[str, Any]) -> list[Score]:
    """lm-eval's ``results`` dict flattened: one :class:`Score` per task, metric and filter."""
    out = []
    higher = results.get("higher_is_better", {})
    for task, metrics in results["results"].items():
        for key, value in metrics.items():
            if "," not in key or "_stderr," in key:
                continue
            metric, flt = key.split(",", 1)
            err = metrics.get(f"{metric}_stderr,{flt}")
            out.append(
                Score(
                    task=task, metric=metric, filter=flt, value=_number(value), stderr=_number(err),
                    higher_is_better=higher.get(task, {}).get(metric),
                )
            )  # fmt: skip
    return out


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):  # lm-eval writes "N/A" for stderrs it cannot compute
        return None


def per_document(results: dict[str, Any]) -> dict[tuple[str, str, str], dict[int, float]]:
    """(task, metric, filter) -> doc_id -> score, for the metrics scored per document as a number."""
    out: dict[tuple[str, str, str], dict[int, float]] = {}
    for task, samples in (results.get("samples") or {}).items():
        for sample in samples:
            for metric in sample.get("metrics", []):
                value = sample.get(metric)
                if isinstance(value, bool | int | float):
                    key = (task, metric, sample.get("filter", "none"))
                    out.setdefault(key, {})[sample["doc_id"]] = float(value)
    return out


def oracle(experts: dict[str, dict[str, Any]]) -> tuple[list[Score], list[str]]:
    """Per task, metric and document the best expert's score, averaged: what a perfect router would get.
    Only metrics that lm-eval averages per document (accuracy, exact match) have an oracle."""
    per_expert = {name: per_document(res) for name, res in experts.items()}
    first = next(iter(experts.values()))
    higher = first.get("higher_is_better", {})
    out, skipped = [], set()
    for score in scores(first):
        key = (score.task, score.metric, score.filter)
        tables = [docs[key] for docs in per_expert.values() if key in docs]
        agg = first.get("configs", {}).get(score.task, {}).get("metric_list", [{}])
        if len(tables) != len(per_expert) or not _is_mean(agg, score.metric):
            skipped.add(f"{score.task} {score.metric}")
            continue
        best = max if higher.get(score.task, {}).get(score.metric, True) else min
        docs = sorted(set.intersection(*(set(t) for t in tables)))
        values = [best(t[d] for t in tables) for d in docs]
        out.append(
            score.model_copy(update={"value": sum(values) / len(values) if values else None, "stderr": None})
        )
    notes = [f"no oracle for {', '.join(sorted(skipped))} (not a per-document mean)"] if skipped else []
    return out, notes


def _is_mean(metric_list: Sequence[dict[str, Any]], metric: str) -> bool:
    means = {"acc", "acc_norm", "exact_match"}  # lm-eval's own default aggregation for these is the mean
    for entry in metric_list:
        if entry.get("metric") == metric:
            aggregation = entry.get("aggregation")
            return aggregation == "mean" or (aggregation is None and metric in means)
    return metric in means


def evaluate_tasks(
    registry: Registry | str | os.PathLike[str],
    tasks: Sequence[str],
    *,
    include_paths: Sequence[str | os.PathLike[str]] = (),
    limit: int | None = None,
    num_fewshot: int | None = None,
    expert: str | None = None,
    compare: bool = False,
    top_k: int = 1,
    batch_size: int = 8,
    max_length: int | None = None,
    apply_chat_template: bool = False,
    offline: bool | None = None,
    device: str | None = None,
    system: Any = None,
    progress: Progress | None = None,
) -> HarnessReport:
    """Run lm-eval ``tasks`` on the routed system (or ``expert``: a name or ``base``); with ``compare``,
    on the base model, every expert and the routed system, plus the oracle over the experts.

    ``include_paths`` add task folders to those the plugins ship; ``offline`` (None: MoLE's rule, see
    :func:`~mole_core.network.resolve_offline`) keeps ``datasets`` and the Hub off the network.
    """
    from ..network import resolve_offline

    lm_eval = _import_lm_eval()
    started = time.monotonic()
    tasks, paths = _check_request(tasks, limit, include_paths)
    registry = registry if isinstance(registry, Registry) else Registry(registry)
    manifest = registry.load()
    report = HarnessReport(
        registry=str(registry.root), base=manifest.base.id, tasks=tasks, limit=limit,
        num_fewshot=num_fewshot, include_paths=[str(p) for p in paths],
    )  # fmt: skip
    with offline_mode(resolve_offline(offline)):
        manager = _task_manager(lm_eval, paths, tasks)
        mole = system or _load(registry, manifest, compare, expert, device, report.notes)
        names = _configurations(mole, compare, expert, report.notes)
        raw: dict[str, dict[str, Any]] = {}
        for i, name in enumerate(names):
            if progress:
                progress("lm-eval configurations", i, len(names))
            raw[name] = _one(lm_eval, mole, name, tasks, manager, report, limit=limit, num_fewshot=num_fewshot,
                             top_k=top_k, batch_size=batch_size, max_length=max_length,
                             apply_chat_template=apply_chat_template)  # fmt: skip
        if progress:
            progress("lm-eval configurations", len(names), len(names))
    experts = {n: r for n, r in raw.items() if n in mole.experts}
    if compare and len(experts) > 1:
        oracle_scores, notes = oracle(experts)
        report.configurations.append(Configuration(name=ORACLE, scores=oracle_scores))
        report.notes += notes
    report.seconds = round(time.monotonic() - started, 2)
    return report


def _check_request(
    tasks: Sequence[str], limit: int | None, include_paths: Sequence[str | os.PathLike[str]]
) -> tuple[list[str], list[Path]]:
    """The task names and task folders (the caller's, then the plugins'), refused before anything loads."""
    tasks = [t.strip() for t in tasks if t.strip()]
    if not tasks:
        raise MoleError("no tasks given (e.g. --tasks mole_gsm8k_mc)")
    if limit is not None and limit < 1:
        raise MoleError("--limit must be at least 1")
    paths = [Path(p) for p in include_paths]
    missing = [str(p) for p in paths if not p.is_dir()]
    if missing:
        raise MoleError(f"--include-path {missing[0]} is not a directory")
    return tasks, list(dict.fromkeys([*paths, *bundled_task_paths()]))


def _task_manager(lm_eval: Any, paths: list[Path], tasks: list[str]) -> Any:
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=[str(p) for p in paths] or None)
    known = set(manager.all_tasks)
    unknown = [t for t in tasks if t not in known]
    if unknown:
        bundled = sorted(t for t in known if t.startswith("mole_"))
        raise MoleError(
            f"unknown lm-eval task {unknown[0]!r} (bundled: {', '.join(bundled) or 'none'}; "
            "see `lm-eval ls tasks`, or add a folder with --include-path)"
        )
    return manager


def _load(
    registry: Registry, manifest: Any, compare: bool, expert: str | None, device: str | None, notes: list[str]
) -> Any:
    from ..runtime import MoLE

    needs_router = manifest.experts and (compare or expert is None)
    router = None
    if needs_router:
        from ..routing import load_router

        try:
            router = load_router(registry, manifest)
        except MoleError as exc:
            if not compare:
                raise
            notes.append(f"no usable router, the routed column is skipped: {exc}")
    return MoLE.from_registry(registry, router=router, load_router=False, device=device)


def _configurations(mole: Any, compare: bool, expert: str | None, notes: list[str]) -> list[str]:
    if not compare:
        return [expert or ROUTED]
    names = ["base", *mole.experts]
    try:
        mole.router  # noqa: B018 - raises when there is none (the note says why)
    except MoleError:
        return names
    return [*names, ROUTED] if mole.experts else names


def _one(
    lm_eval: Any, mole: Any, name: str, tasks: list[str], manager: Any, report: HarnessReport, **options: Any
) -> dict[str, Any]:
    """One configuration evaluated; its column appended to ``report``; lm-eval's raw results returned."""
    from .model import MoleLM

    started = time.monotonic()
    lm = MoleLM(
        mole=mole, expert=None if name == ROUTED else name, top_k=options["top_k"],
        batch_size=options["batch_size"], max_length=options["max_length"],
    )  # fmt: skip
    try:
        results = lm_eval.simple_evaluate(
            model=lm, tasks=tasks, task_manager=manager, limit=options["limit"],
            num_fewshot=options["num_fewshot"], apply_chat_template=options["apply_chat_template"],
            log_samples=True, bootstrap_iters=100,  # closed-form stderr for means, 100 resamples else
        )  # fmt: skip
    except AssertionError as exc:  # lm-eval checks its inputs with asserts (e.g. a continuation too long)
        where = traceback.extract_tb(exc.__traceback__)[-1]
        raise MoleError(
            f"lm-eval refused {', '.join(tasks)} ({name}): `{where.line}` failed "
            f"(the model's context is {lm.max_length} tokens)"
        ) from exc
    except (ValueError, FileNotFoundError, ConnectionError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MoleError(f"lm-eval failed on {', '.join(tasks)} ({name}): {first}") from exc
    report.configurations.append(
        Configuration(
            name=name, scores=scores(results), routed_to=dict(lm.routed) if name == ROUTED else {},
            samples={t: len({x["doc_id"] for x in s}) for t, s in (results.get("samples") or {}).items()},
            seconds=round(time.monotonic() - started, 2),
        )
    )  # fmt: skip
    return results
