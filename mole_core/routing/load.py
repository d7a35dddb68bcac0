"""The router a registry uses: the recorded one, checked; else one built from the experts' examples."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..errors import MoleError
from .base import CONFIG_FILE, FixedRouter, Router
from .verify import load_checked, verify_router_files

if TYPE_CHECKING:
    from ..manifest import Manifest
    from ..registry import Registry

log = logging.getLogger("mole_core.routing")


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
    unknown = [label for label in entry.labels if label not in names]
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


def build_embedding_router(manifest: Manifest, **options: Any) -> Router:
    """An ``embedding`` router over every registered expert, from the examples the registry records."""
    from .. import plugins
    from .data import routing_examples_for

    examples = {entry.name: routing_examples_for(entry) for entry in manifest.experts}
    return plugins.get_router_spec("embedding").build(manifest.names(), examples=examples, **options)
