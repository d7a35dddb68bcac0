"""``mole push``, ``mole pull`` and ``mole pull-registry``: thin wrappers over :mod:`mole_core.hub`.

No token option on purpose: tokens on the command line end up in shell history and process lists,
so ``huggingface_hub`` resolves ``HF_TOKEN`` or the stored login (``hf auth login``) itself.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..cli import cli, echo_json, entry_json, json_option, progress_bars, registry_option
from ..registry import Registry


@cli.command()
@click.argument("name", required=False)
@click.option("--all", "push_all", is_flag=True, help="Push the whole registry (manifest, experts, router).")
@click.option("--repo-id", required=True, help="Hub repo to push to (ORG/NAME; created if missing).")
@click.option("--revision", default=None, help="Branch to push to (created if missing) [default: main].")
@click.option(
    "--private", is_flag=True, help="Create the repo private (an existing repo keeps its visibility)."
)
@click.option("--message", "commit_message", default=None, help="Commit message.")
@json_option
@registry_option
def push(
    name: str | None,
    push_all: bool,
    repo_id: str,
    revision: str | None,
    private: bool,
    commit_message: str | None,
    as_json: bool,
    registry_dir: Path,
) -> None:
    """Publish the expert NAME (or --all: the registry) to the Hugging Face Hub in one commit."""
    from ..hub import push_expert, push_registry

    if (name is None) == (not push_all):
        raise click.UsageError("give an expert NAME or --all, not both")
    registry = Registry(registry_dir)
    options = dict(
        revision=revision, private=private, commit_message=commit_message, progress=progress_bars()
    )
    if push_all:
        result = push_registry(registry, repo_id, **options)  # type: ignore[arg-type]
    else:
        result = push_expert(registry, name, repo_id, **options)  # type: ignore[arg-type]
    if as_json:
        echo_json(result.to_json())
        return
    what = f"registry ({len(result.experts)} experts)" if push_all else name
    click.echo(f"pushed {what} to {result.repo_id}@{result.revision} (commit {result.commit[:12]})")


@cli.command()
@click.argument("repo")
@click.option("--revision", default=None, help="Branch, tag or commit [default: main]; or write REPO@REV.")
@click.option(
    "--name", default=None, help="Expert name [default: from mole-expert.json, else the repo name]."
)
@click.option("--subfolder", default=None, help="Folder of the adapter inside the repo.")
@click.option(
    "--task", default=None, help="One sentence: what the expert is for (overrides the published one)."
)
@click.option("--replace", is_flag=True, help="Replace an expert of the same name.")
@json_option
@registry_option
def pull(
    repo: str,
    revision: str | None,
    name: str | None,
    subfolder: str | None,
    task: str | None,
    replace: bool,
    as_json: bool,
    registry_dir: Path,
) -> None:
    """Download the adapter REPO[@REV] from the Hub, verify it, and register it."""
    from ..experts import parse_hub_ref
    from ..hub import pull_expert

    repo_id, ref_revision = parse_hub_ref(repo)
    if ref_revision and revision and ref_revision != revision:
        raise click.UsageError(f"{repo} and --revision {revision} disagree")
    entry = pull_expert(
        Registry(registry_dir),
        repo_id,
        revision=revision or ref_revision,
        name=name,
        task=task,
        subfolder=subfolder,
        replace=replace,
        progress=progress_bars(),
    )
    if as_json:
        echo_json(entry_json(entry))
        return
    commit = entry.hub.commit[:12] if entry.hub and entry.hub.commit else "?"
    click.echo(
        f"registered {entry.name} from {repo_id} (commit {commit}, r={entry.rank}, "
        f"alpha={entry.alpha:g}, sha256 {(entry.sha256 or '?')[:12]}…)"
    )


@cli.command("pull-registry")
@click.argument("repo")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--revision", default=None, help="Branch, tag or commit [default: main]; or write REPO@REV.")
@click.option("--force", is_flag=True, help="Replace a registry already in DIRECTORY.")
@json_option
def pull_registry(
    repo: str, directory: Path | None, revision: str | None, force: bool, as_json: bool
) -> None:
    """Install the registry REPO[@REV] into DIRECTORY [default: ./<repo name>], verified, all or nothing."""
    from ..experts import parse_hub_ref
    from ..hub import pull_registry as pull_all

    repo_id, ref_revision = parse_hub_ref(repo)
    if ref_revision and revision and ref_revision != revision:
        raise click.UsageError(f"{repo} and --revision {revision} disagree")
    target = directory or Path(repo_id.split("/")[-1])
    result = pull_all(
        repo_id, target, revision=revision or ref_revision, force=force, progress=progress_bars()
    )
    if as_json:
        echo_json(result.to_json())
        return
    router = f" and router {result.router}" if result.router else ""
    click.echo(
        f"installed {len(result.experts)} experts{router} from {repo_id} into {target} "
        f"(commit {(result.commit or '?')[:12]})"
    )
