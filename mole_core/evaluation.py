"""``mole eval``: does routing pick the right expert, and does each expert beat the base where it should?

Four parts, each optional:

* routing accuracy and confusion matrix on a labelled JSONL file (``query`` + ``expert``);
* a held-out loss table: rows are the base model and every expert, columns every expert's domain test
  set (its dataset's ``test`` split), loss = mean NLL over completion tokens only, perplexity = exp.
  A dataset can add columns of the same items rewritten (``DatasetSpec.loss_variants``; GSM8K strips
  its calculator annotations, about half of a quick expert's raw gain);
* routed vs best single expert vs oracle on those same items (:mod:`mole_core.oracle`);
* exact match of generated answers for every expert dataset that says how to check its answers
  (``DatasetSpec.answers``), for the base model and the routed system, greedy. At 135M parameters
  this is ~0-3% on GSM8K either way: read the NLL columns first.

The base model is loaded once; experts are PEFT adapters on it, switched with ``set_adapter`` and
``disable_adapter``. The core names no dataset: plugins declare what is checked and how.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from . import plugins
from .datasets import framed, load_named
from .errors import MoleError
from .manifest import ExpertEntry, Manifest
from .oracle import ItemLoss, RoutingGain, item_losses, routing_gain
from .progress import Progress
from .registry import Registry
from .routing import RoutingReport
from .specs import DEFAULT_TEMPLATE, TextExample

log = logging.getLogger(__name__)

BASE = "base"


class LossCell(BaseModel):
    loss: float = Field(description="Mean NLL per completion token.")
    perplexity: float
    tokens: int


class LossTable(BaseModel):
    """Rows: ``base`` and each expert; columns: each expert's domain test set."""

    columns: list[str]
    texts: dict[str, int] = Field(description="Test examples per column.")
    owners: dict[str, list[str]] = Field(description="Column -> experts whose own domain it is.")
    rows: dict[str, dict[str, LossCell]]
    best: dict[str, str] = Field(description="Column -> model with the lowest loss.")
    own_gain: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Expert -> own column -> relative loss change vs base (negative = better).",
    )


class AnswerItem(BaseModel):
    question: str
    reference: str
    base_answer: str | None
    routed_answer: str | None = None
    routed_expert: str | None = None


class AnswerResult(BaseModel):
    """Exact match of generated answers on one dataset's test problems."""

    dataset: str
    n: int
    base_accuracy: float
    routed_accuracy: float | None = None
    routed_to: dict[str, int] = Field(default_factory=dict, description="Expert -> problems routed to it.")
    items: list[AnswerItem] = Field(default_factory=list)


class EvalReport(BaseModel):
    registry: str
    base: str
    routing: RoutingReport | None = None
    losses: LossTable | None = None
    gain: RoutingGain | None = Field(default=None, description="Routed vs best single expert vs oracle.")
    answers: dict[str, AnswerResult] = Field(default_factory=dict, description="Dataset -> exact match.")
    notes: list[str] = Field(default_factory=list)
    seconds: float = 0.0


# -- loss ------------------------------------------------------------------------------------------------
def completion_nll(
    model: Any, tokenizer: Any, examples: Sequence[TextExample], max_length: int = 256, batch_size: int = 4
) -> LossCell:
    """Mean NLL over completion tokens (EOS included), exactly as training labels them."""
    return _cell([x for x in item_losses(model, tokenizer, examples, max_length, batch_size) if x])


def _cell(losses: Sequence[ItemLoss]) -> LossCell:
    count = sum(x.tokens for x in losses)
    if not count:
        raise MoleError("no example has completion tokens to score")
    loss = sum(x.nll for x in losses) / count
    return LossCell(loss=round(loss, 5), perplexity=round(math.exp(min(loss, 50.0)), 3), tokens=count)


def domain_sets(
    manifest: Manifest, n_texts: int, offline: bool | None, notes: list[str]
) -> tuple[dict[str, list[TextExample]], dict[str, list[str]]]:
    """Each expert's domain test set (its dataset's test split) keyed by dataset, then the dataset's
    loss variants (``<dataset>-<variant>``: the same items rewritten); plus column owners."""
    catalogue = plugins.catalogue()
    sets: dict[str, list[TextExample]] = {}
    owners: dict[str, list[str]] = {}
    for entry in manifest.experts:
        dataset = _expert_dataset(entry, catalogue)
        if dataset is None or dataset not in catalogue.datasets:
            notes.append(
                f"expert {entry.name}: dataset {dataset or 'unknown'} has no held-out split; no own column"
            )
            continue
        variants = catalogue.datasets[dataset].loss_variants
        if dataset not in sets:
            sets[dataset] = load_named(dataset, "test", n_texts, offline).examples
            for variant, rewrite in variants.items():
                sets[f"{dataset}-{variant}"] = [
                    TextExample(prompt=e.prompt, completion=rewrite(e.completion)) for e in sets[dataset]
                ]
        for column in [dataset, *(f"{dataset}-{v}" for v in variants)]:
            owners.setdefault(column, []).append(entry.name)
    return sets, owners


def _expert_dataset(entry: ExpertEntry, catalogue: Any) -> str | None:
    if entry.training is not None and entry.training.dataset:
        return entry.training.dataset
    spec = catalogue.experts.get(entry.name)
    return spec.dataset if spec else None


def score_items(
    model: Any,
    tokenizer: Any,
    experts: Sequence[str],
    sets: dict[str, list[TextExample]],
    *,
    max_length: int = 256,
    progress: Progress | None = None,
    templates: dict[str, str] | None = None,
    attached: Callable[[str], AbstractContextManager[Any]] | None = None,
) -> dict[str, dict[str, list[ItemLoss | None]]]:
    """Per-item losses of every model (base, then each adapter) on every set: ``[model][set][item]``.
    An expert's prompts are framed by its prompt template, as it was trained and is served.
    ``attached(name)`` (a runtime's paging, :func:`paged`) attaches an expert while it is scored and
    yields the model to score; without it every adapter must already be attached to ``model``."""
    models = [BASE, *experts]
    scored: dict[str, dict[str, list[ItemLoss | None]]] = {}
    done, total = 0, len(models) * len(sets)
    for name in models:
        scored[name] = {}
        for column, examples in sets.items():
            examples = framed(examples, (templates or {}).get(name, DEFAULT_TEMPLATE))
            with attached(name) if attached else nullcontext(model) as current, active_adapter(current, name):
                scored[name][column] = item_losses(current, tokenizer, examples, max_length)
            done += 1
            if progress:
                progress("held-out loss", done, total)
    return scored


def loss_table(
    scored: dict[str, dict[str, list[ItemLoss | None]]],
    sets: dict[str, list[TextExample]],
    owners: dict[str, list[str]],
) -> LossTable:
    """The loss table from :func:`score_items`: every model's mean loss per token on every set."""
    columns, models = list(sets), list(scored)
    rows = {m: {c: _cell([x for x in scored[m][c] if x]) for c in columns} for m in models}
    best = {c: min(models, key=lambda m: rows[m][c].loss) for c in columns}
    gains = {
        expert: {
            c: round(rows[expert][c].loss / rows[BASE][c].loss - 1, 4) for c in columns if expert in owners[c]
        }
        for expert in models[1:]
    }
    return LossTable(
        columns=columns, texts={c: len(sets[c]) for c in columns}, owners=owners, rows=rows, best=best,
        own_gain={e: g for e, g in gains.items() if g},
    )  # fmt: skip


@contextmanager
def paged(mole: Any, name: str) -> Iterator[Any]:
    """Expert ``name`` attached and pinned in ``mole`` (paged in if its cache evicted it); yields the model."""
    with mole.use([] if name == BASE else [name]):
        yield mole.model


@contextmanager
def active_adapter(model: Any, name: str) -> Iterator[None]:
    """One adapter active, or every adapter disabled for ``base``."""
    from peft import PeftModel

    if not isinstance(model, PeftModel):
        yield
    elif name == BASE:
        with model.disable_adapter():
            yield
    else:
        model.set_adapter(name)
        yield


# -- exact match of generated answers -------------------------------------------------------------------
def answer_datasets(manifest: Manifest) -> list[str]:
    """The datasets of the registry's experts whose plugin says how to check a generated answer."""
    catalogue = plugins.catalogue()
    names = [_expert_dataset(e, catalogue) for e in manifest.experts]
    return [
        d
        for d in dict.fromkeys(n for n in names if n)
        if d in catalogue.datasets and catalogue.datasets[d].answers
    ]


def answer_accuracy(
    mole: Any, dataset: str, n: int, offline: bool | None, *, routed: bool, max_new_tokens: int = 256,
    batch_size: int = 8, progress: Progress | None = None,
) -> AnswerResult:  # fmt: skip
    """Greedy exact match of the bare base model and (if ``routed``) the routed system on ``dataset``."""
    check = plugins.get_dataset_spec(dataset).answers
    if check is None:
        raise MoleError(f"dataset {dataset!r} does not say how to check its answers")
    problems = load_named(dataset, "test", n, offline).examples
    modes = ["base", "routed"] if routed else ["base"]
    outputs: dict[str, list[Any]] = {mode: [] for mode in modes}
    for mode in modes:  # one progress stage (one bar) per mode, each counting its own problems
        done = 0
        for start in range(0, len(problems), batch_size):
            chunk = [p.prompt for p in problems[start : start + batch_size]]
            expert = BASE if mode == "base" else None
            outputs[mode].extend(mole.generate(chunk, max_new_tokens=max_new_tokens, expert=expert))
            done += len(chunk)
            if progress:
                progress(f"{dataset} answers ({mode})", done, len(problems))
    items = []
    for i, problem in enumerate(problems):
        routed_gen = outputs["routed"][i] if routed else None
        items.append(
            AnswerItem(
                question=problem.prompt, reference=check.reference(problem.completion),
                base_answer=check.predict(outputs["base"][i].text),
                routed_answer=check.predict(routed_gen.text) if routed_gen else None,
                routed_expert=routed_gen.expert if routed_gen else None,
            )
        )  # fmt: skip
    return _score(dataset, items, routed, check.match)


def _score(dataset: str, items: list[AnswerItem], routed: bool, match: Any) -> AnswerResult:
    n = len(items)
    base = sum(match(i.base_answer, i.reference) for i in items) / n if n else 0.0
    routed_acc = sum(match(i.routed_answer, i.reference) for i in items) / n if routed and n else None
    counts: dict[str, int] = {}
    for item in items:
        if item.routed_expert:
            counts[item.routed_expert] = counts.get(item.routed_expert, 0) + 1
    return AnswerResult(
        dataset=dataset, n=n, base_accuracy=base, routed_accuracy=routed_acc, routed_to=counts, items=items
    )


# -- routing ---------------------------------------------------------------------------------------------
def routing_report(
    registry: Registry, manifest: Manifest, path: str | os.PathLike[str], router: Any = None
) -> Any:
    """Accuracy and confusion matrix of the registry's router on a labelled JSONL file."""
    from .routing import evaluate_routing, load_router, read_labelled_file

    rows = read_labelled_file(path, labels=manifest.names())
    router = router or load_router(registry, manifest)
    return evaluate_routing(router, [r.query for r in rows], [r.expert for r in rows], name=Path(path).name)


# -- everything --------------------------------------------------------------------------------------------
def _has_router(mole: Any) -> bool:
    try:
        mole.router  # noqa: B018 - the property raises when there is none
    except MoleError:
        return False
    return True


def _try_router(registry: Registry, manifest: Manifest, notes: list[str]) -> Any:
    """The registry's router, or None with a note saying what is skipped without it."""
    from .routing import load_router

    try:
        return load_router(registry, manifest)
    except MoleError as exc:
        notes.append(f"no usable router, the routed columns are skipped: {exc}")
        return None


def evaluate(
    registry: Registry | str | os.PathLike[str],
    *,
    labelled: str | os.PathLike[str] | None = None,
    n_answers: int = 20,
    n_texts: int = 32,
    max_length: int = 256,
    max_new_tokens: int = 256,
    offline: bool | None = None,
    progress: Progress | None = None,
    router: Any = None,
    system: Any = None,
    device: str | None = None,
    n_gsm8k: int | None = None,
    max_loaded_experts: int | str | None = None,
) -> EvalReport:
    """Run the parts asked for: routing (``labelled``), the loss table and routed-vs-oracle table
    (``n_texts`` > 0), exact match (``n_answers`` > 0 problems per dataset that declares an answer check).

    ``router`` replaces the registry's router (any :class:`~mole_core.routing.Router`); ``system`` is an
    already loaded :class:`~mole_core.runtime.MoLE` of this registry to reuse instead of loading the
    base model again (its own router then routes). ``device`` is where a newly loaded system runs (see
    :func:`~mole_core.devices.resolve_device`), with at most ``max_loaded_experts`` adapters attached
    (each expert is paged in while it is scored). ``n_gsm8k`` is the old name of ``n_answers``.
    """
    from .runtime import MoLE

    started = time.monotonic()
    n_answers = n_answers if n_gsm8k is None else n_gsm8k
    registry = registry if isinstance(registry, Registry) else Registry(registry)
    manifest = registry.load()
    report = EvalReport(registry=str(registry.root), base=manifest.base.id)
    if n_texts < 0 or n_answers < 0:
        raise MoleError("--n-texts and --n-answers must be 0 (skip) or more")
    if labelled is not None:
        report.routing = routing_report(registry, manifest, labelled, router)
    if not (n_texts or n_answers):
        report.seconds = round(time.monotonic() - started, 2)
        return report
    if system is None and router is None and manifest.experts:
        router = _try_router(registry, manifest, report.notes)
    mole = system or MoLE.from_registry(
        registry, router=router, load_router=False, device=device, max_loaded_experts=max_loaded_experts
    )
    if system is not None and not _has_router(mole) and manifest.experts:
        report.notes.append("the given system has no router: the routed columns are skipped")
    if n_texts:
        _losses(report, mole, manifest, n_texts, offline, max_length, progress)
    if n_answers:
        datasets = answer_datasets(manifest)
        if not datasets:
            report.notes.append("no expert's dataset says how to check its answers: no exact match")
        for dataset in datasets:
            report.answers[dataset] = answer_accuracy(
                mole, dataset, n_answers, offline, routed=_has_router(mole),
                max_new_tokens=max_new_tokens, progress=progress,
            )  # fmt: skip
    report.seconds = round(time.monotonic() - started, 2)
    return report


def _losses(
    report: EvalReport, mole: Any, manifest: Manifest, n_texts: int, offline: bool | None,
    max_length: int, progress: Progress | None,
) -> None:  # fmt: skip
    """The loss table and the routed-vs-oracle table, from one scoring of every item by every model."""
    sets, owners = domain_sets(manifest, n_texts, offline, report.notes)
    if not sets:
        report.notes.append("no expert has a dataset with a test split: no loss table")
        return
    scored = score_items(
        mole.model, mole.tokenizer, manifest.names(), sets, max_length=max_length, progress=progress,
        templates={e.name: e.prompt_template for e in manifest.experts},
        attached=lambda name: paged(mole, name),
    )  # fmt: skip
    report.losses = loss_table(scored, sets, owners)
    domains = {c: sets[c] for c in sets if c in _primary(owners, manifest)}
    choose = (lambda queries: [r.expert for r in mole.route(queries)]) if _has_router(mole) else None
    report.gain = routing_gain(scored, domains, manifest.names(), choose)


def _primary(owners: dict[str, list[str]], manifest: Manifest) -> set[str]:
    """Columns that are datasets themselves (not a dataset's rewritten variant)."""
    catalogue = plugins.catalogue()
    return {c for c in owners if c in catalogue.datasets}
