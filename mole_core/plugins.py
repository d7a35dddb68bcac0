"""The plugin manager: the only global state MoLE keeps.

Built-in plugins are modules in :data:`DEFAULT_PLUGINS`; third-party ones come from the entry-point
group ``mole``. ``MOLE_LOAD_PLUGINS`` (comma-separated entry-point names; empty = none) restricts
which third-party plugins load. A plugin that fails to import, raises in a hook or registers junk is
recorded in :func:`problems` by name and skipped; the others keep working.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, TypeVar

import pluggy
from pydantic import BaseModel, ValidationError

from . import hookspecs
from .specs import ClaimSpec, DatasetSpec, ExpertSpec, RouterSpec

log = logging.getLogger(__name__)

DEFAULT_PLUGINS: tuple[str, ...] = (
    "mole_plugins.experts",
    "mole_plugins.datasets",
    "mole_plugins.routers",
    "mole_plugins.paper",
)
ENTRY_POINT_GROUP = "mole"
PROVIDED_KINDS = ("experts", "routers", "datasets", "claims")

pm = pluggy.PluginManager("mole")
pm.add_hookspecs(hookspecs)

_load_problems: list[PluginProblem] = []
_loaded = False


@dataclass(frozen=True)
class PluginProblem:
    """A plugin that could not be loaded or whose hook failed."""

    plugin: str
    hook: str | None
    message: str

    def __str__(self) -> str:
        where = f" in {self.hook}" if self.hook else ""
        return f"plugin {self.plugin!r}{where}: {self.message}"


@dataclass
class Catalogue:
    """Everything the loaded plugins declare, by name, plus what went wrong collecting it."""

    experts: dict[str, ExpertSpec] = field(default_factory=dict)
    routers: dict[str, RouterSpec] = field(default_factory=dict)
    datasets: dict[str, DatasetSpec] = field(default_factory=dict)
    claims: dict[str, ClaimSpec] = field(default_factory=dict)
    problems: list[PluginProblem] = field(default_factory=list)
    provided: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """plugin name -> {"experts": [...], "routers": [...], "datasets": [...], "claims": [...]}"""

    def claims_about(self, topic: str) -> list[ClaimSpec]:
        """The claims a command named ``topic`` prints beside what it measured."""
        return [claim for claim in self.claims.values() if claim.topic == topic]


def _allowed_external() -> set[str] | None:
    raw = os.environ.get("MOLE_LOAD_PLUGINS")
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def load_plugins() -> None:
    """Register built-in and entry-point plugins once per process."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module_name in DEFAULT_PLUGINS:
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # a broken built-in must not take the CLI down
            _load_problems.append(PluginProblem(module_name, None, f"import failed: {exc}"))
            continue
        if pm.get_plugin(module_name) is None:
            pm.register(module, name=module_name)
    allowed = _allowed_external()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if allowed is not None and ep.name not in allowed:
            continue
        if pm.get_plugin(ep.name) is not None:
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:
            log.warning("plugin %r failed to load: %s", ep.name, exc)
            _load_problems.append(PluginProblem(ep.name, None, f"import failed: {exc}"))


def plugin_names() -> list[str]:
    """Names of every registered plugin, built-ins first."""
    load_plugins()
    return [name for name, _ in pm.list_name_plugin()]


SpecT = TypeVar("SpecT", bound=BaseModel)


def _collect(
    hook_name: str,
    spec_type: type[SpecT],
    into: dict[str, SpecT],
    catalogue: Catalogue,
    kind: str,
) -> None:
    """Call one hook plugin by plugin, so an exception or junk is pinned on the plugin that caused it."""
    hook = getattr(pm.hook, hook_name)
    for impl in hook.get_hookimpls():  # registration order: built-ins first
        plugin = impl.plugin_name
        provided = catalogue.provided.setdefault(plugin, {each: [] for each in PROVIDED_KINDS})

        def register(spec: Any, _plugin: str = plugin, _provided: dict = provided) -> None:
            try:
                if isinstance(spec, spec_type):
                    spec = spec.model_copy(update={"plugin": _plugin})
                elif isinstance(spec, dict):
                    spec = spec_type.model_validate({**spec, "plugin": _plugin})
                else:
                    raise TypeError(f"expected {spec_type.__name__}, got {type(spec).__name__}")
            except (ValidationError, TypeError, ValueError) as exc:
                message = (
                    str(exc).splitlines()[0] if not isinstance(exc, ValidationError) else _first_error(exc)
                )
                catalogue.problems.append(PluginProblem(_plugin, hook_name, f"registered junk: {message}"))
                return
            name = spec.name  # type: ignore[attr-defined]
            if name in into:
                other = into[name].plugin  # type: ignore[attr-defined]
                catalogue.problems.append(
                    PluginProblem(_plugin, hook_name, f"{kind} {name!r} is already registered by {other!r}")
                )
                return
            into[name] = spec
            _provided[kind + "s"].append(name)

        try:
            impl.function(register=register)
        except Exception as exc:
            log.warning("plugin %r raised in %s: %s", plugin, hook_name, exc)
            catalogue.problems.append(PluginProblem(plugin, hook_name, f"{type(exc).__name__}: {exc}"))


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err.get("loc", ()))
    return f"{loc}: {err['msg']}" if loc else err["msg"]


def catalogue() -> Catalogue:
    """Collect every spec the loaded plugins register (cheap: specs are small declarations)."""
    load_plugins()
    cat = Catalogue(problems=list(_load_problems))
    cat.problems += [p for name, p in _command_problems.items() if pm.get_plugin(name) is not None]
    _collect("register_experts", ExpertSpec, cat.experts, cat, "expert")
    _collect("register_routers", RouterSpec, cat.routers, cat, "router")
    _collect("register_datasets", DatasetSpec, cat.datasets, cat, "dataset")
    _collect("register_claims", ClaimSpec, cat.claims, cat, "claim")
    return cat


def get_expert_spec(name: str) -> ExpertSpec | None:
    return catalogue().experts.get(name)


def get_router_spec(name: str) -> RouterSpec:
    from .errors import NotFoundError

    cat = catalogue()
    if name not in cat.routers:
        raise NotFoundError(
            f"no router kind {name!r} (available: {', '.join(sorted(cat.routers)) or 'none'})"
        )
    return cat.routers[name]


def get_dataset_spec(name: str) -> DatasetSpec:
    from .errors import NotFoundError

    cat = catalogue()
    if name not in cat.datasets:
        raise NotFoundError(f"no dataset {name!r} (available: {', '.join(sorted(cat.datasets)) or 'none'})")
    return cat.datasets[name]


def register_plugin(plugin: object, name: str) -> Callable[[], None]:
    """Register ``plugin`` under ``name`` and return a function that removes it (for tests and notebooks)."""
    load_plugins()
    pm.register(plugin, name=name)
    return lambda: pm.unregister(name=name)


_commands: dict[str, list[str]] = {}
_command_problems: dict[str, PluginProblem] = {}


def load_commands(group: Any) -> None:
    """Let each plugin add commands to the click ``group`` (``register_commands``), one plugin at a time.

    A plugin that raises, or that replaces a command it did not add, is rolled back and recorded in
    :func:`catalogue`'s problems; the others' commands stay.
    """
    load_plugins()
    for impl in pm.hook.register_commands.get_hookimpls():
        plugin = impl.plugin_name
        before = dict(group.commands)
        try:
            impl.function(cli=group)
            replaced = sorted(name for name, cmd in before.items() if group.commands.get(name) is not cmd)
            if replaced:
                raise ValueError(f"replaces the command {replaced[0]!r}; plugins may only add commands")
        except Exception as exc:
            group.commands.clear()
            group.commands.update(before)
            log.warning("plugin %r raised in register_commands: %s", plugin, exc)
            _command_problems[plugin] = PluginProblem(
                plugin, "register_commands", f"{type(exc).__name__}: {exc}"
            )
            continue
        _commands[plugin] = sorted(name for name in group.commands if name not in before)


def commands_by_plugin() -> dict[str, list[str]]:
    """plugin name -> the commands it added through ``register_commands``."""
    return {name: list(commands) for name, commands in _commands.items() if pm.get_plugin(name) is not None}


def _expert_json(spec: ExpertSpec) -> dict[str, Any]:
    """What an expert spec declares, as ``mole plugins --json`` shows it (routing examples counted, not listed)."""
    routing = spec.routing
    return {
        "name": spec.name,
        "plugin": spec.plugin,
        "task": spec.task,
        "dataset": spec.dataset,
        "rank": spec.lora.rank,
        "alpha": spec.lora.alpha,
        "dropout": spec.lora.dropout,
        "target_modules": list(spec.lora.target_modules),
        "prompt_template": spec.prompt_template,
        "routing": {
            "templates": len(routing.templates),
            "examples": len(routing.examples),
            "dataset_queries": routing.dataset_queries,
        },
    }


def describe() -> dict[str, Any]:
    """The catalogue as JSON-able data: each plugin with the names it provides, every spec's declaration
    (experts' LoRA shape and data, routers' and datasets' descriptions), claims, and problems."""
    cat = catalogue()
    commands = commands_by_plugin()
    empty = {kind: [] for kind in PROVIDED_KINDS}
    return {
        "plugins": [
            {"name": name, **cat.provided.get(name, empty), "commands": commands.get(name, [])}
            for name in plugin_names()
        ],
        "experts": [_expert_json(spec) for spec in cat.experts.values()],
        "routers": [spec.model_dump(mode="json") for spec in cat.routers.values()],
        "datasets": [spec.model_dump(mode="json") for spec in cat.datasets.values()],
        "claims": [spec.model_dump(mode="json") for spec in cat.claims.values()],
        "problems": [{"plugin": p.plugin, "hook": p.hook, "message": p.message} for p in cat.problems],
    }
