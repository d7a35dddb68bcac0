"""The three hooks a MoLE plugin can implement.

Each hook receives a ``register`` callback and calls it once per thing it provides, so a plugin can
register any number of experts, routers or datasets (the pattern of ``llm`` and ``datasette``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("mole")
hookimpl = pluggy.HookimplMarker("mole")


@hookspec
def register_experts(register: Callable[[Any], None]) -> None:
    """Register :class:`mole_core.ExpertSpec` objects: ``register(ExpertSpec(...))``."""


@hookspec
def register_routers(register: Callable[[Any], None]) -> None:
    """Register :class:`mole_core.RouterSpec` objects: ``register(RouterSpec(...))``."""


@hookspec
def register_datasets(register: Callable[[Any], None]) -> None:
    """Register :class:`mole_core.DatasetSpec` objects: ``register(DatasetSpec(...))``."""
