"""The router a registry uses: the recorded one, checked; else one built from the experts' examples."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import MoleError
from .base import CONFIG_FILE, FixedRouter, Router
from .calibrate import BASE
from .verify import load_checked, verify_router_files

if TYPE_CHECKING:
    from ..manifest import Manifest
    from ..registry import Registry

log = logging.getLogger("mole_core.routing")

UNTRAINED_MIN_CONFIDENCE = 0.1
"""The untrained embedding router's threshold: its softmax spreads over every expert and ``base``, so a
best expert under 0.1 means the query looks like none of them. On ten few-shot experts (cross-validated,
docs/routing.md) it sends 96% of held-out off-topic requests to base for under one point of accuracy."""


def load_router(registry: Registry, manifest: Manifest | None = None) -> Router:
    """The router the runtime should use for ``registry``'s experts.

    A recorded router is checked before use: its labels must all be registered experts, its files must
    match the manifest's sha256s and its config must be within bounds (:mod:`.verify`). Without one, an ``embedding`` router is built from the experts'
    example queries (it needs no training); a single expert needs no router at all.
    """
    from .. import plugins

    manifest = manifest or registry.load()
    names = manifest.names()
    if not names:
        raise MoleError("no experts registered: nothing to route to (mole add-expert NAME --adapter DIR)")
    entry = manifest.router
    if entry is None:
        if len(names) == 1:
            return FixedRouter(names)
        return build_embedding_router(manifest)
    unknown = [label for label in entry.labels if label not in names and label != BASE]
    if unknown:
        raise MoleError(
            f"router {entry.name} routes to {unknown[0]!r}, which is not registered: retrain it with mole train-router"
        )
    directory = registry.router_dir(entry)
    verify_router_files(directory, entry)
    router = load_checked(plugins.get_router_spec(entry.name), directory, entry)
    if list(router.labels) != list(entry.labels):
        raise MoleError(
            f"{directory / CONFIG_FILE} lists experts {router.labels}, the manifest {entry.labels}: "
            f"retrain it with mole train-router"
        )
    router.calibration_temperature, router.min_confidence = entry.temperature, entry.min_confidence
    extend_with_new_experts(router, manifest)
    return router


def extend_with_new_experts(router: Router, manifest: Manifest) -> None:
    """Experts registered after the router was trained: an embedding router learns them from examples."""
    from .data import routing_examples_for

    known = set(router.labels)  # a set: a thousand experts would otherwise cost a million comparisons
    for entry in manifest.experts:
        if entry.name in known:
            continue
        if router.learns_from_examples():
            router.add_examples(entry.name, routing_examples_for(entry))
            log.info("router %s: routing to %s by its example queries", router.kind, entry.name)
        else:
            log.warning(
                "expert %s was registered after the %s router was trained and cannot be routed to: "
                "retrain it with mole train-router",
                entry.name,
                router.kind,
            )


def build_embedding_router(
    manifest: Manifest, *, fallback: bool = True, negatives: Sequence[str] | None = None, **options: Any
) -> Router:
    """An ``embedding`` router over every registered expert, from the examples the registry records.

    With ``fallback`` it also knows off-topic requests (``negatives``, else the bundled ones) as ``base``
    and sends a query to the base model below :data:`UNTRAINED_MIN_CONFIDENCE` (measured in docs/routing.md).
    """
    from .. import plugins
    from .data import routing_examples_for
    from .negatives import bundled_negatives

    examples = {entry.name: routing_examples_for(entry) for entry in manifest.experts}
    labels = manifest.names()
    if fallback:
        examples[BASE] = list(negatives) if negatives is not None else bundled_negatives()
        labels = [*labels, BASE]
    router = plugins.get_router_spec("embedding").build(labels, examples=examples, **options)
    router.min_confidence = UNTRAINED_MIN_CONFIDENCE if fallback else 0.0
    return router
