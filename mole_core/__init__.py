"""MoLE: Mixture of LoRA Experts — one frozen base model, many LoRA adapters, a router.

The public API: :class:`Registry` and :class:`Manifest` for what exists, the spec types,
:data:`hookimpl`, :class:`Router`/:class:`Route` and the :class:`Progress` callback type for plugins,
and :class:`MoLE` (imported lazily: it pulls in torch) to run it all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import AdapterError, CacheFullError, ManifestError, MoleError, NotFoundError
from .hookspecs import hookimpl
from .manifest import BaseModelRef, ExpertEntry, HubLocation, Manifest, RouterEntry, TrainingRecord
from .progress import Progress
from .registry import NewExpert, Registry
from .routing import Route, Router
from .specs import (
    AnswerCheck,
    ClaimSpec,
    DatasetSpec,
    ExpertSpec,
    LoraDefaults,
    RouterSpec,
    RoutingExamples,
    TextExample,
)

if TYPE_CHECKING:
    from .runtime import MoLE

__all__ = [
    "AdapterError",
    "AnswerCheck",
    "CacheFullError",
    "BaseModelRef",
    "ClaimSpec",
    "DatasetSpec",
    "ExpertEntry",
    "ExpertSpec",
    "HubLocation",
    "LoraDefaults",
    "Manifest",
    "ManifestError",
    "MoLE",
    "MoleError",
    "NewExpert",
    "NotFoundError",
    "Progress",
    "Registry",
    "Route",
    "Router",
    "RouterEntry",
    "RouterSpec",
    "RoutingExamples",
    "TextExample",
    "TrainingRecord",
    "hookimpl",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "MoLE":
        from .runtime import MoLE

        return MoLE
    raise AttributeError(name)
