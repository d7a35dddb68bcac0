"""The router interface every router plugin implements, and what a routing decision looks like.

Routers know expert *names* (their ``labels``), never indices baked into code: a router trained
over reasoning/knowledge/qa/factoid says so in its saved config, and the runtime checks those names
against the registry before using it.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from .. import atomic
from ..errors import MoleError
from .calibrate import calibrate, decide

CONFIG_FILE = "config.json"
#: Characters of a query a router is shown: 64 tokens of even 64 characters each fit.
MAX_ROUTE_CHARS = 4096
WEIGHTS_FILE = "model.safetensors"


class Route(BaseModel):
    """The router's decision for one query: the chosen expert (``base`` when none fits), every output's
    calibrated probability, the chosen expert's score and, for a fallback, the reason."""

    query: str
    expert: str
    scores: dict[str, float]
    confidence: float = Field(default=1.0, description="The best expert's calibrated probability.")
    reason: str | None = Field(default=None, description="Why the query went to the base model.")


class Router(ABC):
    """Scores queries against expert names. Subclasses save with safetensors plus a JSON config.

    This is the whole contract between the core and a router plugin: the core reads ``kind`` and
    ``labels`` and calls ``predict``/``route``, ``fit`` (``mole train-router``), ``save``, ``config``,
    ``tensors`` (``mole memory``) and, for experts registered after training, ``add_examples`` when the
    router overrides it. A router is built and loaded through its :class:`~mole_core.RouterSpec`.
    """

    kind: str = "router"
    calibration_temperature: float = 1.0
    """Calibration: ``predict``'s log-probabilities are divided by it (fitted by ``train_router``)."""
    min_confidence: float = 0.0
    """Below this calibrated score no expert is trusted and the query goes to ``base`` (0: never)."""
    fits_from_scratch: bool = False
    """True when ``fit`` forgets earlier training: ``train_router`` then refits few-shot experts on
    their held-out examples too, after calibrating on them."""

    def __init__(self, labels: Sequence[str]) -> None:
        if not labels:
            raise MoleError("a router needs at least one expert name")
        self.labels = list(labels)

    @abstractmethod
    def predict(self, queries: Sequence[str]) -> list[list[float]]:
        """Probabilities per query, in ``self.labels`` order; each row sums to 1. A ``base`` label, when
        a router has one, is the probability that no expert fits (learnt from off-topic requests)."""

    def calibrated(self, queries: Sequence[str]) -> list[dict[str, float]]:
        """Calibrated probabilities per query, by label."""
        rows = calibrate(self.predict(queries), self.calibration_temperature)
        return [{label: float(p) for label, p in zip(self.labels, row, strict=True)} for row in rows]

    def route(self, queries: Sequence[str]) -> list[Route]:
        """The expert for each query by :func:`decide`: the best one, or ``base`` below ``min_confidence``."""
        # Routers read a query's first 64 tokens; clip far above that before any tokenizer sees it, so
        # one 20 MB line costs nothing (the Route keeps the query as given).
        out = []
        clipped = [q[:MAX_ROUTE_CHARS] for q in queries]
        for query, scores in zip(queries, self.calibrated(clipped), strict=True):
            decision = decide(scores, self.min_confidence)
            out.append(Route(query=query, scores=scores, **decision.model_dump()))
        return out

    def fit(self, queries: Sequence[str], labels: Sequence[str], **options: Any) -> dict[str, Any]:
        """Train on (query, expert name) pairs; returns training metrics. Options include ``epochs``,
        ``lr``, ``batch_size``, ``seed`` and ``progress`` (a :data:`Progress` callback, or None)."""
        raise MoleError(f"router {self.kind!r} is not trainable")

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write ``config.json`` and ``model.safetensors`` into ``directory``."""

    def config(self) -> dict[str, Any]:
        """What ``save`` writes as ``config.json``; subclasses add their settings to it."""
        return {"kind": self.kind, "labels": self.labels}

    def add_examples(self, name: str, texts: Sequence[str]) -> None:
        """Route to ``name`` (appended to ``labels`` if new) by these example queries, without retraining.

        Override it if the router can: an expert registered after the router was trained then joins at
        once. The default refuses; :meth:`learns_from_examples` tells the two apart.
        """
        raise MoleError(f"router {self.kind!r} cannot learn an expert from examples: retrain it")

    @classmethod
    def learns_from_examples(cls) -> bool:
        """Whether this router overrides :meth:`add_examples`."""
        return cls.add_examples is not Router.add_examples

    def tensors(self) -> list[Any]:
        """Every tensor the router holds, for ``mole memory``; the default finds torch modules and tensors
        among its attributes, so override it only for tensors kept elsewhere."""
        import torch

        found: list[Any] = []
        for value in vars(self).values():
            if isinstance(value, torch.nn.Module):
                found.extend(value.parameters())
                found.extend(value.buffers())
            elif isinstance(value, torch.Tensor):
                found.append(value)
        return found


def write_config(directory: Path, config: dict[str, Any]) -> None:
    atomic.write_text(directory / CONFIG_FILE, json.dumps(config, indent=2, sort_keys=True) + "\n")


def read_config(directory: Path) -> dict[str, Any]:
    """A router's ``config.json``, checked (:func:`.verify.check_config`): what a plugin's ``load`` reads."""
    from .verify import check_config

    path = Path(directory) / CONFIG_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise MoleError(f"router directory {directory} has no {CONFIG_FILE}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MoleError(f"{path}: invalid JSON ({exc})") from exc
    except RecursionError as exc:
        raise MoleError(f"{path}: invalid JSON (nested too deeply)") from exc
    if not isinstance(data, dict) or not isinstance(data.get("labels"), list):
        raise MoleError(f"{path}: expected an object with a 'labels' list")
    check_config(Path(directory), data)
    return data


class FixedRouter(Router):
    """The router for a registry with a single expert: every query goes to it."""

    kind = "fixed"

    def predict(self, queries: Sequence[str]) -> list[list[float]]:
        return [[1.0 / len(self.labels)] * len(self.labels) for _ in queries]

    def save(self, directory: Path) -> None:
        write_config(Path(directory), self.config())
