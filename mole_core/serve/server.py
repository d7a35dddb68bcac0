"""Building and running the server from :class:`ServeSettings` (what ``mole serve`` calls)."""

from __future__ import annotations

import logging
from typing import Any

from ..errors import MoleError
from ..registry import Registry
from .app import create_app
from .front import Frontend
from .settings import ServeSettings

log = logging.getLogger(__name__)


def build_app(settings: ServeSettings, progress: Any = None) -> Any:
    """The app for ``settings``: the embedded engine over the registry's loaded runtime, or, with
    ``engine_url``, a forwarder to that OpenAI-compatible engine (router and tokenizer only)."""
    registry = Registry(settings.registry)
    registry.load()  # a bad registry fails here, before any model loads
    if settings.engine_url:
        try:
            from .remote import RemoteBackend  # the scale-out front-end (docs/serving.md)
        except ImportError as exc:
            raise MoleError("--engine-url: this installation has no remote engine support") from exc
        return create_app(settings, RemoteBackend(settings), Frontend.from_registry(registry, settings))
    from ..runtime import MoLE
    from .engine import EmbeddedEngine

    mole = MoLE.from_registry(
        registry, device=settings.device, dtype=settings.dtype, max_loaded_experts=settings.max_loaded_experts
    )
    return create_app(settings, EmbeddedEngine(mole, settings), Frontend.from_mole(mole, settings))


def run(settings: ServeSettings, *, log_level: str = "info") -> None:
    """Serve until interrupted (uvicorn; access logs name paths, never headers or keys)."""
    import uvicorn

    app = build_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level, timeout_graceful_shutdown=5)
