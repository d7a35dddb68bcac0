"""The MoLE paper's demo and claims, as a built-in plugin reached through hooks like any other.

``mole quickstart`` (trains the paper's four experts, a router, answers, measures, evaluates) is
added by :func:`register_commands`; the paper's memory claim, which ``mole memory`` prints next to
what it measured, by :func:`register_claims`. The core names neither.
"""

from __future__ import annotations

from mole_core import ClaimSpec, hookimpl

MEMORY_CLAIM = "the paper claimed 12.74 GB vs 48 GB, 73.4% saved, for Llama-3.2-3B, by arithmetic only"


@hookimpl
def register_commands(cli) -> None:  # noqa: ANN001 - pluggy passes the click group
    from .command import quickstart

    cli.add_command(quickstart)


@hookimpl
def register_claims(register) -> None:  # noqa: ANN001 - pluggy passes the callback
    register(ClaimSpec(name="paper-memory", topic="memory", text=MEMORY_CLAIM, source="MoLE paper, Table 2"))
