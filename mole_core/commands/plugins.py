"""``mole plugins``, ``mole install`` and ``mole uninstall``: what the plugins declare, and adding them."""

from __future__ import annotations

from typing import Any

import click

from .. import plugins
from ..cli import cli, echo_json, json_option


@cli.command("plugins")
@json_option
def plugins_(as_json: bool) -> None:
    """List plugins with the experts (task, LoRA shape, dataset), routers, datasets and commands each
    provides, and broken ones."""
    data = plugins.describe()
    if as_json:
        echo_json(data)
        return
    experts = {e["name"]: e for e in data["experts"]}
    routers = {r["name"]: r for r in data["routers"]}
    datasets = {d["name"]: d for d in data["datasets"]}
    for plugin in data["plugins"]:
        click.echo(plugin["name"])
        for name in plugin["experts"]:
            click.echo(f"  expert  {name}: {_expert_line(experts[name])}")
        for name in plugin["routers"]:
            click.echo(f"  router  {name}: {routers[name]['description'] or '-'}")
        for name in plugin["datasets"]:
            click.echo(f"  dataset {name}: {datasets[name]['description'] or '-'}")
        for name in plugin["commands"]:
            click.echo(f"  command mole {name}")
        for name in plugin["claims"]:
            click.echo(f"  claim   {name}")
    for problem in data["problems"]:
        where = f" in {problem['hook']}" if problem["hook"] else ""
        click.secho(f"broken: plugin {problem['plugin']!r}{where}: {problem['message']}", fg="yellow")


def _expert_line(spec: dict[str, Any]) -> str:
    shape = f"r={spec['rank']} alpha={spec['alpha']:g} on {','.join(spec['target_modules'])}"
    return f"{spec['task']} [{shape}; dataset {spec['dataset'] or '-'}]"
