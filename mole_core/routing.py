"""The router interface every router plugin implements, and what a routing decision looks like.

Routers know expert *names* (their ``labels``), never indices baked into code: a router trained
over reasoning/knowledge/qa/factoid says so in its saved config, and the runtime checks those names
against the registry before using it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from . import atomic
from .errors import MoleError

if TYPE_CHECKING:
    from .manifest import Manifest, RouterEntry
    from .registry import Registry

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


class Route(BaseModel):
    """The router's decision for one query: the chosen expert and every expert's probability."""

    query: str
    expert: str
    scores: dict[str, float]


Progress = Callable[[str, int, int, dict[str, Any]], None]
"""``progress(stage, done, total, info)``: a router's training reports each step (``info`` holds e.g. the
epoch and running loss) to whoever drives it; the library itself never draws a bar."""


class Router(ABC):
    """Scores queries against expert names. Subclasses save with safetensors plus a JSON config."""

    kind: str = "router"

    def __init__(self, labels: Sequence[str]) -> None:
        if not labels:
            raise MoleError("a router needs at least one expert name")
        self.labels = list(labels)

    @abstractmethod
    def predict(self, queries: Sequence[str]) -> list[list[float]]:
        """Probabilities per query, in ``self.labels`` order; each row sums to 1."""

    def route(self, queries: Sequence[str]) -> list[Route]:
        rows = self.predict(queries)
        out = []
        for query, row in zip(queries, rows, strict=True):
            scores = {label: float(p) for label, p in zip(self.labels, row, strict=True)}
            out.append(Route(query=query, expert=max(scores, key=scores.__getitem__), scores=scores))
        return out

    def fit(self, queries: Sequence[str], labels: Sequence[str], **options: Any) -> dict[str, Any]:
        """Train on (query, expert name) pairs; returns training metrics. Options include ``epochs``,
        ``lr``, ``batch_size``, ``seed`` and ``progress`` (a :data:`Progress` callback, or None)."""
        raise MoleError(f"router {self.kind!r} is not trainable")

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write ``config.json`` and ``model.safetensors`` into ``directory``."""

    def config(self) -> dict[str, Any]:
        return {"kind": self.kind, "labels": self.labels}


def write_config(directory: Path, config: dict[str, Any]) -> None:
    atomic.write_text(directory / CONFIG_FILE, json.dumps(config, indent=2, sort_keys=True) + "\n")


def read_config(directory: Path) -> dict[str, Any]:
    path = Path(directory) / CONFIG_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MoleError(f"router directory {directory} has no {CONFIG_FILE}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MoleError(f"{path}: invalid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("labels"), list):
        raise MoleError(f"{path}: expected an object with a 'labels' list")
    return data


class FixedRouter(Router):
    """The router for a registry with a single expert: every query goes to it."""

    kind = "fixed"

    def predict(self, queries: Sequence[str]) -> list[list[float]]:
        return [[1.0 / len(self.labels)] * len(self.labels) for _ in queries]

    def save(self, directory: Path) -> None:
        write_config(Path(directory), self.config())


# -- loading the registry's router ----------------------------------------------------------------------
def load_router(registry: Registry, manifest: Manifest | None = None) -> Router:
    """The router the runtime should use for ``registry``'s experts.

    A recorded router is checked before use: its labels must all be registered experts and its weights
    must match the manifest's sha256. Without one, an ``embedding`` router is built from the experts'
    example queries (it needs no training); a single expert needs no router at all.
    """
    from . import plugins

    manifest = manifest or registry.load()
    names = manifest.names()
    if not names:
        raise MoleError("no experts registered: nothing to route to (mole add-expert NAME --adapter DIR)")
    entry = manifest.router
    if entry is None:
        if len(names) == 1:
            return FixedRouter(names)
        return build_embedding_router(manifest)
    unknown = [label for label in entry.labels if label not in names]
    if unknown:
        raise MoleError(
            f"router {entry.name} routes to {unknown[0]!r}, which is not registered: retrain it with mole train-router"
        )
    directory = registry.router_dir(entry)
    verify_router_files(directory, entry)
    router = plugins.get_router_spec(entry.name).load(directory)
    if list(router.labels) != list(entry.labels):
        raise MoleError(
            f"{directory / CONFIG_FILE} lists experts {router.labels}, the manifest {entry.labels}: "
            f"retrain it with mole train-router"
        )
    extend_with_new_experts(router, manifest)
    return router


def verify_router_files(directory: Path, entry: RouterEntry) -> None:
    """The router's weights exist and match the sha256 the manifest recorded (else it was tampered with)."""
    from .adapters import sha256_file

    weights = Path(directory) / WEIGHTS_FILE
    if not weights.is_file():
        raise MoleError(f"router {entry.name}: {weights} is missing (retrain it with mole train-router)")
    if entry.sha256 is not None:
        actual = sha256_file(weights)
        if actual != entry.sha256:
            raise MoleError(
                f"router {entry.name}: checksum mismatch on {weights} (manifest {entry.sha256[:12]}…, "
                f"file {actual[:12]}…): the file was modified or is corrupt; retrain it with mole train-router"
            )


def extend_with_new_experts(router: Router, manifest: Manifest) -> None:
    """Experts registered after the router was trained: an embedding router learns them from examples."""
    from .routing_data import routing_examples_for

    for entry in manifest.experts:
        if entry.name in router.labels:
            continue
        add = getattr(router, "add_examples", None)
        if callable(add):
            add(entry.name, routing_examples_for(entry))
            log.info("router %s: routing to %s by its example queries", router.kind, entry.name)
        else:
            log.warning(
                "expert %s was registered after the %s router was trained and cannot be routed to: "
                "retrain it with mole train-router",
                entry.name,
                router.kind,
            )


def build_embedding_router(manifest: Manifest, **options: Any) -> Router:
    """An ``embedding`` router over every registered expert, from the examples the registry records."""
    from . import plugins
    from .routing_data import routing_examples_for

    examples = {entry.name: routing_examples_for(entry) for entry in manifest.experts}
    return plugins.get_router_spec("embedding").build(manifest.names(), examples=examples, **options)


# -- evaluation ------------------------------------------------------------------------------------------
class LabelledQuery(BaseModel):
    """A query and the expert that should answer it."""

    query: str
    expert: str


class Mistake(BaseModel):
    query: str
    expected: str
    predicted: str
    confidence: float


class RoutingReport(BaseModel):
    """Accuracy, confusion matrix (rows: expected, columns: predicted) and per-expert recall."""

    name: str = ""
    n: int
    correct: int
    accuracy: float
    labels: list[str] = Field(description="Row and column order of the confusion matrix.")
    confusion: list[list[int]]
    recall: dict[str, float | None]
    mistakes: list[Mistake] = Field(default_factory=list)

    def table(self) -> str:
        """The confusion matrix as aligned text, one row per expected expert, with its recall."""
        corner = "expected \\ predicted"
        first = max(len(corner), *(len(label) for label in self.labels)) + 2
        width = max(7, *(len(label) for label in self.labels)) + 2
        lines = [
            corner.ljust(first) + "".join(label.rjust(width) for label in self.labels) + "recall".rjust(9)
        ]
        for label, row in zip(self.labels, self.confusion, strict=True):
            recall = self.recall.get(label)
            shown = "-" if recall is None else f"{recall:.3f}"
            lines.append(label.ljust(first) + "".join(str(v).rjust(width) for v in row) + shown.rjust(9))
        return "\n".join(lines)

    def summary(self) -> str:
        title = f"{self.name}: " if self.name else ""
        return f"{title}accuracy {self.accuracy:.3f} ({self.correct}/{self.n})"


def evaluate_routing(
    router: Router, queries: Sequence[str], labels: Sequence[str], *, name: str = "", max_mistakes: int = 50
) -> RoutingReport:
    """Route ``queries`` and compare with the expected expert names ``labels``."""
    if len(queries) != len(labels):
        raise MoleError(f"{len(queries)} queries but {len(labels)} expected experts")
    order = list(router.labels) + sorted({label for label in labels if label not in router.labels})
    index = {label: i for i, label in enumerate(order)}
    confusion = [[0] * len(order) for _ in order]
    mistakes: list[Mistake] = []
    routes = router.route(list(queries)) if queries else []
    for route, expected in zip(routes, labels, strict=True):
        confusion[index[expected]][index[route.expert]] += 1
        if route.expert != expected and len(mistakes) < max_mistakes:
            mistakes.append(
                Mistake(
                    query=route.query,
                    expected=expected,
                    predicted=route.expert,
                    confidence=route.scores[route.expert],
                )
            )
    correct = sum(confusion[i][i] for i in range(len(order)))
    recall = {
        label: (confusion[i][i] / sum(confusion[i]) if sum(confusion[i]) else None)
        for label, i in index.items()
    }
    return RoutingReport(
        name=name,
        n=len(queries),
        correct=correct,
        accuracy=correct / len(queries) if queries else 0.0,
        labels=order,
        confusion=confusion,
        recall=recall,
        mistakes=mistakes,
    )


def read_labelled_file(
    path: str | os.PathLike[str], labels: Iterable[str] | None = None
) -> list[LabelledQuery]:
    """Read JSONL rows with ``query`` and ``expert``; ``labels`` (if given) are the expert names allowed."""
    path = Path(path)
    allowed = list(labels) if labels is not None else None
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MoleError(f"labelled query file {path} does not exist") from None
    except UnicodeDecodeError:
        raise MoleError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise MoleError(f"{path}: cannot read ({exc.strerror})") from None
    rows: list[LabelledQuery] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MoleError(f"{path}:{number}: invalid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise MoleError(f"{path}:{number}: expected an object with 'query' and 'expert'")
        query, expert = row.get("query"), row.get("expert")
        if not isinstance(query, str) or not query.strip():
            raise MoleError(f"{path}:{number}: no non-empty 'query' string")
        if not isinstance(expert, str) or not expert.strip():
            raise MoleError(f"{path}:{number}: no non-empty 'expert' string")
        if allowed is not None and expert not in allowed:
            raise MoleError(f"{path}:{number}: expert {expert!r} is not one of {', '.join(allowed)}")
        rows.append(LabelledQuery(query=query, expert=expert))
    if not rows:
        raise MoleError(f"{path}: no labelled queries")
    return rows


# -- training --------------------------------------------------------------------------------------------
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
    from . import plugins
    from .routing_data import build_routing_set

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
    """Write ``router`` into ``routers/<kind>`` atomically, then record it (with its sha256) in the manifest."""
    from .adapters import sha256_file
    from .manifest import RouterEntry

    parent = registry.root / "routers"
    staged = atomic.staging_dir(parent, router.kind)
    try:
        router.save(staged)
        if not (staged / WEIGHTS_FILE).is_file():
            raise MoleError(f"router {router.kind!r} saved no {WEIGHTS_FILE}")
        sha = sha256_file(staged / WEIGHTS_FILE)
        entry = RouterEntry(
            name=router.kind,
            path=f"routers/{router.kind}",
            labels=list(router.labels),
            sha256=sha,
            metrics=metrics or {},
        )
        with registry.transaction() as manifest:  # files and manifest entry change under one lock
            atomic.publish_dir(staged, parent / router.kind)
            manifest.router = entry
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return entry
