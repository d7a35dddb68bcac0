"""Adding experts: the library call behind ``mole add-expert``.

Fills what the user left out from the plugin catalogue (an adapter named like a plugin's expert
takes its task, examples and plugin name), and fetches from the Hub when asked.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import plugins
from .errors import MoleError
from .manifest import ExpertEntry
from .progress import Progress
from .registry import Registry


def parse_hub_ref(ref: str) -> tuple[str, str | None]:
    """``org/name@rev`` -> (``org/name``, ``rev``)."""
    repo_id, _, revision = ref.partition("@")
    if not repo_id or repo_id.count("/") > 1 or any(c.isspace() for c in repo_id):
        raise MoleError(f"invalid Hub repo id {ref!r} (expected REPO_ID or REPO_ID@REVISION)")
    return repo_id, revision or None


def add_expert(
    registry: Registry,
    name: str,
    *,
    adapter: str | os.PathLike[str] | None = None,
    hub: str | None = None,
    task: str | None = None,
    rank: int | None = None,
    alpha: float | None = None,
    examples: list[str] | None = None,
    plugin: str | None = None,
    prompt_template: str | None = None,
    replace: bool = False,
    allow_pickle: bool = False,
    allow_base_mismatch: bool = False,
    progress: Progress | None = None,
) -> ExpertEntry:
    """Register an adapter from a directory or from ``hub`` (``REPO_ID[@REV]``); ``progress`` gets Hub status lines."""
    if (adapter is None) == (hub is None):
        raise MoleError("give exactly one of an adapter directory or a Hub repo id")
    spec = plugins.get_expert_spec(name)
    if spec is not None:
        plugin = plugin or spec.plugin
        task = task or spec.task
        examples = examples or spec.routing.examples[:32]
        prompt_template = prompt_template or spec.prompt_template
    if hub is not None:
        from .hub import pull_expert

        if allow_base_mismatch:
            raise MoleError("allow_base_mismatch applies to a local adapter directory, not to a Hub pull")

        repo_id, revision = parse_hub_ref(hub)
        return pull_expert(
            registry,
            repo_id,
            revision=revision,
            name=name,
            task=task,
            rank=rank,
            alpha=alpha,
            examples=examples,
            plugin=plugin,
            prompt_template=prompt_template,
            replace=replace,
            progress=progress,
        )
    return registry.add_expert(
        name,
        Path(adapter),  # type: ignore[arg-type]
        task=task,
        rank=rank,
        alpha=alpha,
        plugin=plugin,
        examples=examples,
        prompt_template=prompt_template,
        replace=replace,
        allow_pickle=allow_pickle,
        allow_base_mismatch=allow_base_mismatch,
    )
