"""Built-in routers: the paper's BERT-tiny classifier, a MiniLM classifier, and an embedding router.

Implementations are imported lazily so listing plugins does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from mole_core import RouterSpec, hookimpl

ROUTERS = (
    (
        "bert-tiny",
        "bert_tiny",
        "The paper's BERT-tiny sequence classifier (offline: word embeddings start from MiniLM's).",
        True,
    ),
    ("minilm", "minilm", "A classifier on the pretrained MiniLM-L6 sentence encoder.", True),
    (
        "embedding",
        "embedding",
        "Nearest expert by MiniLM similarity to its example queries; no training.",
        False,
    ),
)


def _lazy(module: str, attr: str):  # noqa: ANN202
    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)(*args, **kwargs)

    return call


@hookimpl
def register_routers(register) -> None:  # noqa: ANN001
    for name, module, description, needs_training in ROUTERS:
        register(
            RouterSpec(
                name=name,
                description=description,
                build=_lazy(module, "build"),
                load=_lazy(module, "load"),
                needs_training=needs_training,
            )
        )
