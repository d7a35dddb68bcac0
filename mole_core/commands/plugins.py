"""``mole plugins``, ``mole install`` and ``mole uninstall``: what the plugins declare, and adding or removing them."""

from __future__ import annotations

from typing import Any

import click

from .. import plugins
from ..cli import cli, echo_json, json_option


@cli.command("plugins")
@json_option
def plugins_(as_json: bool) -> None:
    """List plugins with the experts (task, LoRA shape, dataset), routers, datasets and commands each
    provides, and broken ones.

    MOLE_LOAD_PLUGINS=a,b loads only those third-party plugins (empty: none); built-ins always load.
    """
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


@cli.command()
@click.argument("packages", nargs=-1)
@click.option("-U", "--upgrade", is_flag=True, help="Upgrade the packages to their newest versions.")
@click.option("-e", "--editable", metavar="DIR", help="Install a local project in editable mode.")
@click.option("--force-reinstall", is_flag=True, help="Reinstall even if already up to date.")
@click.option("--no-cache-dir", is_flag=True, help="Disable pip's cache.")
@click.option("--pre", is_flag=True, help="Include pre-release and development versions.")
def install(
    packages: tuple[str, ...],
    upgrade: bool,
    editable: str | None,
    force_reinstall: bool,
    no_cache_dir: bool,
    pre: bool,
) -> None:
    """Install plugin PACKAGES (PyPI names, paths or URLs) into MoLE's own environment with pip.

    pip runs as the Python that runs mole, so `mole plugins` sees the plugin at once; pip's own settings
    (PIP_INDEX_URL, PIP_TARGET, pip.conf) apply.
    """
    from ..install import install as pip_install

    pip_install(
        packages, upgrade=upgrade, editable=editable, force_reinstall=force_reinstall,
        no_cache_dir=no_cache_dir, pre=pre,
    )  # fmt: skip
    click.echo("installed; `mole plugins` lists what it provides", err=True)


@cli.command()
@click.argument("packages", nargs=-1, required=True)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def uninstall(packages: tuple[str, ...], yes: bool) -> None:
    """Uninstall plugin PACKAGES from MoLE's own environment with pip."""
    from ..install import uninstall as pip_uninstall

    pip_uninstall(packages, yes=yes)
