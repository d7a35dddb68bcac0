"""Router training data: a balanced, de-duplicated set synthesized from what each expert contributes.

Each registered expert contributes templates with slot fillers, plain example queries and, when its
spec asks for it, the prompts of its dataset (from the plugin catalogue), plus the ``examples`` the
manifest records (so an expert added with ``mole add-expert --example`` joins the next training).

The held-out split is *by template*: a test query never shares a template with a training query, so
held-out accuracy measures generalisation to question forms the router never saw. Plain examples and
dataset prompts have no template; they are split by item.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from .. import plugins
from ..errors import MoleError
from ..manifest import ExpertEntry, Manifest
from ..specs import RoutingExamples
from .calibrate import BASE

log = logging.getLogger("mole_core.routing")

SLOT_RE = re.compile(r"{(\w+)}")
DEFAULT_SIZE = 10_000
DEFAULT_TEST_FRACTION = 0.2
DATASET_SHARE = 0.25
"""At most this share of a class comes from its dataset's prompts, so templates keep their variety."""
EXAMPLE_SHARE = 0.25
"""At most this share of a class comes from plain examples."""


class RoutingItem(BaseModel):
    """One labelled query and the template (or item) it came from, the unit of the held-out split."""

    model_config = ConfigDict(frozen=True)

    query: str
    expert: str
    template_id: str


class ExpertRouting(BaseModel):
    """Everything one expert contributes to router training."""

    name: str
    routing: RoutingExamples = Field(default_factory=RoutingExamples)
    dataset: str | None = None


class RoutingSet(BaseModel):
    """A balanced training set and a by-template held-out test set, with what they contain."""

    labels: list[str]
    seed: int
    train: list[RoutingItem]
    test: list[RoutingItem]
    unique_train: int
    unique_test: int
    per_class: dict[str, dict[str, int]] = Field(
        description="expert -> {train, test, unique_train, templates_train, templates_test}"
    )

    def queries(self, split: str = "train") -> list[str]:
        return [item.query for item in getattr(self, split)]

    def experts(self, split: str = "train") -> list[str]:
        return [item.expert for item in getattr(self, split)]


def fill_template(template: str, slots: dict[str, list[str]], rng: random.Random) -> str:
    """Fill every ``{slot}`` (one choice per slot name), inserting fillers verbatim."""
    chosen: dict[str, str] = {}

    def pick(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in chosen:
            chosen[name] = rng.choice(slots[name])
        return chosen[name]

    return SLOT_RE.sub(pick, template)


def _dedupe(texts: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for text in texts:
        text = text.strip()
        if text and text.lower() not in seen:
            seen.add(text.lower())
            out.append(text)
    return out


def expert_routing(manifest: Manifest) -> list[ExpertRouting]:
    """What each registered expert contributes, in manifest order: catalogue spec plus manifest examples."""
    catalogue = plugins.catalogue()
    out: list[ExpertRouting] = []
    for entry in manifest.experts:
        spec = catalogue.experts.get(entry.name)
        routing = spec.routing.model_copy(deep=True) if spec else RoutingExamples()
        routing.examples = _dedupe([*routing.examples, *entry.examples])
        task = entry.task or (spec.task if spec else "")
        if routing.examples and not routing.templates and task:  # few examples: the task says more
            routing.examples.append(task)
        if not routing.templates and not routing.examples:
            task = entry.task or (spec.task if spec else "")
            if not task:
                raise MoleError(
                    f"expert {entry.name!r} has no routing examples or task: register it again with "
                    f"--example QUERY (repeatable) and --replace"
                )
            log.warning("expert %s has no routing examples; using its task text only", entry.name)
            routing.examples = [task]
        out.append(ExpertRouting(name=entry.name, routing=routing, dataset=spec.dataset if spec else None))
    return out


def routing_examples_for(entry: ExpertEntry) -> list[str]:
    """Example queries for routing without training: the manifest's, else the spec's; plus the task."""
    spec = plugins.get_expert_spec(entry.name)
    task = entry.task or (spec.task if spec else "")
    if entry.examples:
        return _dedupe([*entry.examples, task])
    if spec is not None and spec.routing.examples:
        return _dedupe([*spec.routing.examples, task])
    if task:
        return [task]
    log.warning("expert %s has no examples and no task; routing by its name only", entry.name)
    return [entry.name.replace("-", " ").replace("_", " ")]


def _dataset_prompts(source: ExpertRouting) -> list[str]:
    if not (source.routing.dataset_queries and source.dataset):
        return []
    try:
        examples = plugins.get_dataset_spec(source.dataset).load("train", offline=True)
    except MoleError as exc:
        log.warning("expert %s: no dataset queries (%s)", source.name, exc)
        return []
    return _dedupe([e.prompt for e in examples if e.prompt])


def _hold_out(n: int, fraction: float, rng: random.Random) -> set[int]:
    """Indices to hold out: ``fraction`` of ``n``, at least one when there are two or more."""
    if n < 2 or fraction <= 0:
        return set()
    k = min(n - 1, max(1, round(n * fraction)))
    return set(rng.sample(range(n), k))


class _Pool:
    """One expert's units for one split: templates (by index) and plain items (by index)."""

    def __init__(self, name: str, slots: dict[str, list[str]]) -> None:
        self.name = name
        self.slots = slots
        self.templates: list[tuple[str, str]] = []  # (template_id, template)
        self.examples: list[tuple[str, str]] = []  # (item id, query)
        self.dataset: list[tuple[str, str]] = []

    def draw(self, n: int, rng: random.Random, taken: set[str], repeat: bool) -> list[RoutingItem]:
        """``n`` items, unique and not in ``taken``; ``repeat`` tops up with repeats when the pool runs dry."""
        out: list[RoutingItem] = []

        def add(template_id: str, query: str) -> bool:
            key = query.lower()
            if key in taken:
                return False
            taken.add(key)
            out.append(RoutingItem(query=query, expert=self.name, template_id=template_id))
            return True

        dataset_quota = (
            min(len(self.dataset), int(n * DATASET_SHARE)) if self.templates else len(self.dataset)
        )
        for item_id, query in rng.sample(self.dataset, min(dataset_quota, n)):
            add(item_id, query)
        example_quota = int(n * EXAMPLE_SHARE) if self.templates else n
        for item_id, query in rng.sample(self.examples, min(len(self.examples), example_quota, n - len(out))):
            add(item_id, query)
        misses = 0
        while self.templates and len(out) < n and misses < 50 * n + 1000:
            template_id, template = rng.choice(self.templates)
            misses += not add(template_id, fill_template(template, self.slots, rng))
        if repeat and out and len(out) < n:
            unique = len(out)
            log.warning(
                "expert %s has only %d unique training queries; repeating them to balance %d",
                self.name,
                unique,
                n,
            )
            out.extend(rng.choice(out[:unique]) for _ in range(n - unique))
        return out[:n]


def synthesize(
    sources: Sequence[ExpertRouting],
    size: int = DEFAULT_SIZE,
    *,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = 0,
    dataset_queries: bool = True,
) -> RoutingSet:
    """Balanced train set of ``size // len(sources)`` queries per expert, and a held-out set by template."""
    if len(sources) < 1:
        raise MoleError("no experts to synthesize routing data for")
    if not 0 <= test_fraction < 1:
        raise MoleError(f"test fraction must be in [0, 1), got {test_fraction}")
    n_train = size // len(sources)
    if n_train < 1:
        raise MoleError(f"size {size} is smaller than the number of experts ({len(sources)})")
    n_test = round(n_train * test_fraction)
    rng = random.Random(seed)
    pools: dict[str, tuple[_Pool, _Pool]] = {}
    for source in sources:
        pools[source.name] = _split(source, test_fraction, rng, dataset_queries)
    train_taken: set[str] = set()
    train = [i for name in pools for i in pools[name][0].draw(n_train, rng, train_taken, repeat=True)]
    test_taken = set(train_taken)  # a test query never equals a training one; a query has one expert
    test = [i for name in pools for i in pools[name][1].draw(n_test, rng, test_taken, repeat=False)]
    rng.shuffle(train)
    rng.shuffle(test)
    per_class = {
        name: {
            "train": sum(i.expert == name for i in train),
            "test": sum(i.expert == name for i in test),
            "unique_train": len({i.query for i in train if i.expert == name}),
            "templates_train": len(pools[name][0].templates),
            "templates_test": len(pools[name][1].templates),
        }
        for name in pools
    }
    result = RoutingSet(
        labels=[s.name for s in sources],
        seed=seed,
        train=train,
        test=test,
        unique_train=len({i.query for i in train}),
        unique_test=len({i.query for i in test}),
        per_class=per_class,
    )
    log.info("routing set: %d train (%d unique), %d held-out", len(train), result.unique_train, len(test))
    return result


def _split(
    source: ExpertRouting, fraction: float, rng: random.Random, dataset_queries: bool
) -> tuple[_Pool, _Pool]:
    """Split one expert's templates, examples and dataset prompts into train and held-out pools."""
    routing = source.routing
    train, test = _Pool(source.name, routing.slots), _Pool(source.name, routing.slots)
    held = _hold_out(len(routing.templates), fraction, rng)
    for i, template in enumerate(routing.templates):
        (test if i in held else train).templates.append((f"{source.name}/template/{i}", template))
    examples = _dedupe(routing.examples)
    held = _hold_out(len(examples), fraction, rng)
    for i, query in enumerate(examples):
        (test if i in held else train).examples.append((f"{source.name}/example/{i}", query))
    prompts = _dataset_prompts(source) if dataset_queries else []
    held = _hold_out(len(prompts), fraction, rng)
    for i, query in enumerate(prompts):
        (test if i in held else train).dataset.append((f"{source.name}/dataset/{i}", query))
    return train, test


def build_routing_set(
    manifest: Manifest,
    size: int = DEFAULT_SIZE,
    *,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = 0,
    dataset_queries: bool = True,
    negatives: Sequence[str] = (),
) -> RoutingSet:
    """The routing set for a registry's experts (labels in manifest order), plus a ``base`` class of
    off-topic ``negatives`` when given (held out by item like plain examples)."""
    if not manifest.experts:
        raise MoleError("no experts registered: add experts before training a router")
    sources = expert_routing(manifest)
    if negatives:
        sources.append(ExpertRouting(name=BASE, routing=RoutingExamples(examples=list(negatives))))
    return synthesize(
        sources,
        size,
        test_fraction=test_fraction,
        seed=seed,
        dataset_queries=dataset_queries,
    )
