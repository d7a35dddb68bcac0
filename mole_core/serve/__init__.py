"""``mole serve``: an OpenAI-compatible HTTP server in front of a registry.

:func:`create_app` wires a :class:`Frontend` (routing, prompt framing) to a :class:`Backend` (the
embedded continuous-batching engine, or a remote multi-LoRA engine); :func:`build_app` builds both
from :class:`ServeSettings`. Importing this package loads no model.
"""

from __future__ import annotations

from .app import create_app
from .backend import Backend, GenerationRequest, TokenEvent, TokenStream
from .errors import ServeError
from .front import Frontend
from .metrics import ServeMetrics
from .server import build_app, run
from .settings import ServeSettings

__all__ = [
    "Backend",
    "Frontend",
    "GenerationRequest",
    "ServeError",
    "ServeMetrics",
    "ServeSettings",
    "TokenEvent",
    "TokenStream",
    "build_app",
    "create_app",
    "run",
]
