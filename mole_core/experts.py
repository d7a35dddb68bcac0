"""Adding experts: the library calls behind ``mole add-expert`` and ``mole import-experts``.

Fills what the user left out from the plugin catalogue (an adapter named like a plugin's expert
takes its task, examples and plugin name), and fetches from the Hub when asked.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from . import plugins
from .adapters import CONFIG_NAME
from .errors import MoleError
from .manifest import ExpertEntry
from .progress import Progress
from .registry import NewExpert, Registry


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


EXAMPLES_FILE = "examples.txt"


def find_adapters(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Adapter directories named by ``paths``: each an adapter directory (with ``adapter_config.json``)
    or a directory whose subdirectories are adapters (taken in name order)."""
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if (path / CONFIG_NAME).is_file():
            found.append(path)
            continue
        if not path.is_dir():
            raise MoleError(f"{path} is not a directory")
        children = sorted(c for c in path.iterdir() if c.is_dir() and (c / CONFIG_NAME).is_file())
        if not children:
            raise MoleError(f"{path} holds no adapter directories (none has {CONFIG_NAME})")
        found += children
    return found


def import_experts(
    registry: Registry,
    paths: Sequence[str | os.PathLike[str]],
    *,
    task: str | None = None,
    plugin: str | None = None,
    replace: bool = False,
    allow_pickle: bool = False,
    progress: Progress | None = None,
) -> list[ExpertEntry]:
    """Register every adapter under ``paths`` at once, each named after its directory (one lock, one
    manifest write, all or none). An optional ``examples.txt`` beside an adapter (one query per line)
    gives its routing examples; a name a plugin declares takes that spec's task, examples and plugin."""
    specs = plugins.catalogue().experts  # once, not once per adapter
    items = []
    for directory in find_adapters(paths):
        spec = specs.get(directory.name)
        examples_file = directory / EXAMPLES_FILE
        examples = (
            [line.strip() for line in examples_file.read_text(encoding="utf-8").splitlines() if line.strip()]
            if examples_file.is_file()
            else []
        )
        items.append(
            NewExpert(
                name=directory.name,
                adapter=directory,
                task=task or (spec.task if spec else None),
                plugin=plugin or (spec.plugin if spec else None),
                examples=examples or (spec.routing.examples[:32] if spec else []),
                prompt_template=spec.prompt_template if spec else None,
                allow_pickle=allow_pickle,
            )
        )
    return registry.add_experts(items, replace=replace, progress=progress)
