"""The hooks a MoLE plugin can implement.

The ``register_*`` hooks receive a ``register`` callback and call it once per thing they provide, so a
plugin can register any number of experts, routers, datasets or claims (the pattern of ``llm`` and
``datasette``); ``register_commands`` receives the ``mole`` click group, as in ``llm``.
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


@hookspec
def register_claims(register: Callable[[Any], None]) -> None:
    """Register :class:`mole_core.ClaimSpec` objects: published figures a command prints next to what it
    measured (``topic`` names the command, e.g. ``memory``)."""


@hookspec
def register_commands(cli: Any) -> None:
    """Add commands to ``mole``: ``cli.add_command(my_click_command)`` or ``@cli.command()`` on a function.

    A plugin may add commands but not replace the core's; one that raises adds nothing and is listed
    under ``problems`` by ``mole plugins``.
    """
