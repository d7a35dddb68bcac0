"""``mole eval``: does routing pick the right expert, and does each expert beat the base where it should?

Three parts, each optional:

* routing accuracy and confusion matrix on a labelled JSONL file (``query`` + ``expert``);
* a held-out loss table: rows are the base model and every expert, columns every expert's domain test
  set (its dataset's ``test`` split), loss = mean NLL over completion tokens only, perplexity = exp.
  GSM8K gets a second column with the ``<<48/2=24>>`` calculator annotations stripped, because about
  half of a quick expert's raw gain is learning that notation;
* GSM8K exact match (the number after ``####`` vs the model's last number) for the base model and the
  routed system, greedy. At 135M parameters this is ~0-3% either way: read the NLL columns first.

The base model is loaded once; experts are PEFT adapters on it, switched with ``set_adapter`` and
``disable_adapter``.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from . import plugins
from .datasets import CompletionCollator, encode_example, framed, load_named, pad_id, strip_calculator
from .errors import MoleError
from .manifest import ExpertEntry, Manifest
from .progress import Progress
from .registry import Registry
from .routing import RoutingReport
from .specs import DEFAULT_TEMPLATE, TextExample

log = logging.getLogger(__name__)

BASE = "base"
GSM8K = "gsm8k"
NO_CALC = "gsm8k-nocalc"


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


class GsmItem(BaseModel):
    question: str
    reference: str
    base_answer: str | None
    routed_answer: str | None = None
    routed_expert: str | None = None


class GsmResult(BaseModel):
    n: int
    base_accuracy: float
    routed_accuracy: float | None = None
    routed_to: dict[str, int] = Field(default_factory=dict, description="Expert -> problems routed to it.")
    items: list[GsmItem] = Field(default_factory=list)


class EvalReport(BaseModel):
    registry: str
    base: str
    routing: RoutingReport | None = None
    losses: LossTable | None = None
    gsm8k: GsmResult | None = None
    notes: list[str] = Field(default_factory=list)
    seconds: float = 0.0


# -- answers -------------------------------------------------------------------------------------------
NUMBER_RE = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", "").rstrip("."))
    except ValueError:
        return None


def reference_answer(answer: str) -> str:
    """GSM8K's final answer: what follows ``####``."""
    return answer.rsplit("####", 1)[-1].strip().replace(",", "")


def predicted_answer(text: str) -> str | None:
    """The model's answer: the first number after its last ``####``, else the last number it wrote."""
    if "####" in text:
        found = NUMBER_RE.findall(text.rsplit("####", 1)[-1])
        if found:
            return found[0].replace(",", "").rstrip(".")
    found = NUMBER_RE.findall(text)
    return found[-1].replace(",", "").rstrip(".") if found else None


def same_number(predicted: str | None, reference: str) -> bool:
    a, b = (None if predicted is None else _number(predicted)), _number(reference)
    return a is not None and b is not None and math.isclose(a, b, rel_tol=0, abs_tol=1e-6)


# -- loss ------------------------------------------------------------------------------------------------
def completion_nll(
    model: Any, tokenizer: Any, examples: Sequence[TextExample], max_length: int = 256, batch_size: int = 4
) -> LossCell:
    """Mean NLL over completion tokens (EOS included), exactly as training labels them."""
    import torch
    import torch.nn.functional as F

    features = [f for f in (encode_example(tokenizer, ex, max_length) for ex in examples) if f is not None]
    if not features:
        raise MoleError("no example has completion tokens to score")
    features.sort(key=lambda f: len(f["input_ids"]))
    collate = CompletionCollator(pad_id(tokenizer))
    device = next(model.parameters()).device
    total, count = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(features), batch_size):
            batch = {k: v.to(device) for k, v in collate(features[start : start + batch_size]).items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            labels = batch["labels"][:, 1:]
            nll = F.cross_entropy(
                logits[:, :-1].float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                ignore_index=-100, reduction="sum",
            )  # fmt: skip
            total += float(nll)
            count += int((labels != -100).sum())
    loss = total / count
    return LossCell(loss=round(loss, 5), perplexity=round(math.exp(min(loss, 50.0)), 3), tokens=count)


def domain_sets(
    manifest: Manifest, n_texts: int, offline: bool | None, notes: list[str]
) -> tuple[dict[str, list[TextExample]], dict[str, list[str]]]:
    """Each expert's domain test set (its dataset's test split), keyed by dataset; plus column owners."""
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
        if dataset not in sets:
            sets[dataset] = load_named(dataset, "test", n_texts, offline).examples
            if dataset == GSM8K:
                sets[NO_CALC] = [
                    TextExample(prompt=e.prompt, completion=strip_calculator(e.completion))
                    for e in sets[dataset]
                ]
        owners.setdefault(dataset, []).append(entry.name)
        if dataset == GSM8K:
            owners.setdefault(NO_CALC, []).append(entry.name)
    return sets, owners


def _expert_dataset(entry: ExpertEntry, catalogue: Any) -> str | None:
    if entry.training is not None and entry.training.dataset:
        return entry.training.dataset
    spec = catalogue.experts.get(entry.name)
    return spec.dataset if spec else None


def loss_table(
    model: Any,
    tokenizer: Any,
    experts: Sequence[str],
    sets: dict[str, list[TextExample]],
    owners: dict[str, list[str]],
    *,
    max_length: int = 256,
    progress: Progress | None = None,
    templates: dict[str, str] | None = None,
) -> LossTable:
    """Every model (base, then each adapter) on every domain test set; an expert's prompts are framed
    by its prompt template (``templates``), as it was trained and is served, the base's are not."""
    columns = list(sets)
    models = [BASE, *experts]
    rows: dict[str, dict[str, LossCell]] = {}
    done, total = 0, len(models) * len(columns)
    for name in models:
        rows[name] = {}
        for column in columns:
            examples = framed(sets[column], (templates or {}).get(name, DEFAULT_TEMPLATE))
            with active_adapter(model, name):
                rows[name][column] = completion_nll(model, tokenizer, examples, max_length)
            done += 1
            if progress:
                progress("held-out loss", done, total)
    best = {c: min(models, key=lambda m: rows[m][c].loss) for c in columns}
    gains = {
        expert: {
            c: round(rows[expert][c].loss / rows[BASE][c].loss - 1, 4) for c in columns if expert in owners[c]
        }
        for expert in experts
    }
    return LossTable(
        columns=columns, texts={c: len(sets[c]) for c in columns}, owners=owners, rows=rows, best=best,
        own_gain={e: g for e, g in gains.items() if g},
    )  # fmt: skip


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


# -- GSM8K exact match --------------------------------------------------------------------------------
def gsm8k_accuracy(
    mole: Any, n: int, offline: bool | None, *, routed: bool, max_new_tokens: int = 256,
    batch_size: int = 8, progress: Progress | None = None,
) -> GsmResult:  # fmt: skip
    """Greedy exact match of the bare base model and (if ``routed``) of the routed system."""
    problems = load_named(GSM8K, "test", n, offline).examples
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
                progress(f"GSM8K ({mode})", done, len(problems))
    items = []
    for i, problem in enumerate(problems):
        routed_gen = outputs["routed"][i] if routed else None
        items.append(
            GsmItem(
                question=problem.prompt, reference=reference_answer(problem.completion),
                base_answer=predicted_answer(outputs["base"][i].text),
                routed_answer=predicted_answer(routed_gen.text) if routed_gen else None,
                routed_expert=routed_gen.expert if routed_gen else None,
            )
        )  # fmt: skip
    return _score(items, routed)


def _score(items: list[GsmItem], routed: bool) -> GsmResult:
    n = len(items)
    base = sum(same_number(i.base_answer, i.reference) for i in items) / n if n else 0.0
    routed_acc = sum(same_number(i.routed_answer, i.reference) for i in items) / n if routed and n else None
    counts: dict[str, int] = {}
    for item in items:
        if item.routed_expert:
            counts[item.routed_expert] = counts.get(item.routed_expert, 0) + 1
    return GsmResult(n=n, base_accuracy=base, routed_accuracy=routed_acc, routed_to=counts, items=items)


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
    """The registry's router, or None with a note saying why routed accuracy is skipped."""
    from .routing import load_router

    try:
        return load_router(registry, manifest)
    except MoleError as exc:
        notes.append(f"no usable router, routed GSM8K accuracy skipped: {exc}")
        return None


def evaluate(
    registry: Registry | str | os.PathLike[str],
    *,
    labelled: str | os.PathLike[str] | None = None,
    n_gsm8k: int = 20,
    n_texts: int = 32,
    max_length: int = 256,
    max_new_tokens: int = 256,
    offline: bool | None = None,
    progress: Progress | None = None,
    router: Any = None,
    system: Any = None,
    device: str | None = None,
) -> EvalReport:
    """Run the parts asked for: routing (``labelled``), loss table (``n_texts`` > 0), GSM8K (``n_gsm8k`` > 0).

    ``router`` replaces the registry's router (any :class:`~mole_core.routing.Router`); ``system`` is an
    already loaded :class:`~mole_core.runtime.MoLE` of this registry to reuse instead of loading the
    base model again (its own router then answers the routed GSM8K questions). ``device`` is where a
    newly loaded system runs (see :func:`~mole_core.devices.resolve_device`).
    """
    from .runtime import MoLE

    started = time.monotonic()
    registry = registry if isinstance(registry, Registry) else Registry(registry)
    manifest = registry.load()
    report = EvalReport(registry=str(registry.root), base=manifest.base.id)
    if n_texts < 0 or n_gsm8k < 0:
        raise MoleError("--n-texts and --n-gsm8k must be 0 (skip) or more")
    if labelled is not None:
        report.routing = routing_report(registry, manifest, labelled, router)
    if n_texts or n_gsm8k:
        sets, owners = domain_sets(manifest, n_texts, offline, report.notes) if n_texts else ({}, {})
        if system is None and n_gsm8k and router is None and manifest.experts:
            router = _try_router(registry, manifest, report.notes)
        mole = system or MoLE.from_registry(  # the loss table runs every expert's adapter by name
            registry, router=router, load_router=False, device=device, max_loaded_experts="all"
        )
        if sets:
            report.losses = loss_table(
                mole.model,
                mole.tokenizer,
                manifest.names(),
                sets,
                owners,
                max_length=max_length,
                progress=progress,
                templates={e.name: e.prompt_template for e in manifest.experts},
            )
        elif n_texts:
            report.notes.append("no expert has a dataset with a test split: no loss table")
        if n_gsm8k and system is not None and not _has_router(mole):
            report.notes.append("the given system has no router: routed GSM8K accuracy skipped")
        if n_gsm8k:
            report.gsm8k = gsm8k_accuracy(
                mole,
                n_gsm8k,
                offline,
                routed=_has_router(mole),
                max_new_tokens=max_new_tokens,
                progress=progress,
            )
    report.seconds = round(time.monotonic() - started, 2)
    return report
