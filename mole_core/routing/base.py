"""The router interface every router plugin implements, and what a routing decision looks like.

Routers know expert *names* (their ``labels``), never indices baked into code: a router trained
over reasoning/knowledge/qa/factoid says so in its saved config, and the runtime checks those names
against the registry before using it.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .. import atomic
from ..errors import MoleError

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
