"""Publishing one expert or a whole registry to the Hub, each in one commit."""

from __future__ import annotations

import json
import logging
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..adapters import CONFIG_NAME, WEIGHTS_NAME, sha256_file
from ..errors import AdapterError, MoleError
from ..manifest import MANIFEST_NAME, HubLocation, utcnow
from ..progress import Progress
from ..registry import Registry
from .cards import CARD_NAME, EXPERT_META, expert_card, expert_metadata, registry_card
from .client import HubError, _api, _bars, _hub_call, _say, check_repo_id
from .snapshot import _expert_files, _router_files, _safe_relpath, _snapshot

log = logging.getLogger("mole_core.hub")


@dataclass(frozen=True)
class PushResult:
    """What a push put where: the repo, the branch, the commit sha and the files in it."""

    repo_id: str
    revision: str
    commit: str
    url: str
    files: list[str]
    experts: list[str] = field(default_factory=list)
    router: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "revision": self.revision,
            "commit": self.commit,
            "url": self.url,
            "files": self.files,
            "experts": self.experts,
            "router": self.router,
        }


def _ensure_repo(repo_id: str, revision: str | None, private: bool) -> str:
    """Create the repo (and branch) if needed; returns the full repo id (``name`` -> ``user/name``)."""
    api = _api()
    with _hub_call("create", repo_id):
        url = api.create_repo(repo_id, private=True if private else None, exist_ok=True)
    repo_id = getattr(url, "repo_id", None) or repo_id
    if private:
        with _hub_call("read", repo_id):
            is_private = api.model_info(repo_id).private
        if is_private is False:  # exist_ok kept an existing public repo: do not publish into it by surprise
            raise HubError(
                f"Hub repo {repo_id} already exists and is public; make it private on the Hub first, "
                "or push without --private"
            )
    if revision and revision != "main" and not revision.startswith("refs/"):
        with _hub_call("create branch in", repo_id, revision):
            api.create_branch(repo_id, branch=revision, exist_ok=True)
    return repo_id


def _commit(
    repo_id: str, operations: list[Any], *, revision: str | None, message: str, progress: Progress | None
) -> tuple[str, str]:
    """One commit with every file, so a repo never shows half a push; returns (commit sha, url)."""
    _say(progress, f"uploading {len(operations)} files to {repo_id}" + (f"@{revision}" if revision else ""))
    with _bars(progress is not None), _hub_call("push to", repo_id, revision):
        info = _api().create_commit(repo_id, operations=operations, commit_message=message, revision=revision)
    return info.oid, getattr(info, "commit_url", "") or ""


def push_expert(
    registry: Registry,
    name: str,
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
    progress: Progress | None = None,
) -> PushResult:
    """Upload one expert (adapter, model card, ``mole-expert.json``) in one commit and record where it went.

    The weights are checked against the manifest's sha256 first: publishing a corrupt adapter would
    make every later pull fail.
    """
    from huggingface_hub import CommitOperationAdd

    check_repo_id(repo_id)
    with ExitStack() as stack:
        with registry.lock():
            entry = registry.get_expert(name)
            staged = stack.enter_context(_snapshot(registry, _expert_files(registry, entry)))
        directory = staged / _safe_relpath(entry.path, f"expert {name!r}")
        sha = sha256_file(directory / WEIGHTS_NAME)
        if entry.sha256 is not None and sha != entry.sha256:
            raise AdapterError(
                f"expert {name!r}: {WEIGHTS_NAME} does not match its sha256 (run `mole validate`)"
            )
        if entry.sha256 is None:
            entry.sha256 = sha
        repo_id = _ensure_repo(repo_id, revision, private)
        operations = [
            CommitOperationAdd(path_in_repo=CONFIG_NAME, path_or_fileobj=str(directory / CONFIG_NAME)),
            CommitOperationAdd(path_in_repo=WEIGHTS_NAME, path_or_fileobj=str(directory / WEIGHTS_NAME)),
            CommitOperationAdd(path_in_repo=CARD_NAME, path_or_fileobj=expert_card(entry, repo_id).encode()),
            CommitOperationAdd(
                path_in_repo=EXPERT_META,
                path_or_fileobj=(
                    json.dumps(expert_metadata(entry), indent=2, ensure_ascii=False) + "\n"
                ).encode(),
            ),
        ]
        commit, url = _commit(
            repo_id, operations, revision=revision,
            message=commit_message or f"Upload MoLE expert {name}", progress=progress,
        )  # fmt: skip
    location = HubLocation(repo_id=repo_id, revision=revision or "main", commit=commit)
    with registry.transaction() as manifest:
        current = manifest.expert(name)
        if current is None or current.sha256 != sha:
            raise MoleError(f"expert {name!r} changed while it was pushed; its hub location was not recorded")
        current.hub = location
        current.updated_at = utcnow()
    log.info("pushed expert %s to %s@%s (%s)", name, repo_id, location.revision, commit)
    return PushResult(
        repo_id=repo_id, revision=location.revision, commit=commit, url=url,
        files=[CONFIG_NAME, WEIGHTS_NAME, CARD_NAME, EXPERT_META], experts=[name],
    )  # fmt: skip


def push_registry(
    registry: Registry,
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
    progress: Progress | None = None,
) -> PushResult:
    """Upload the manifest, every adapter and the router directory to one repo in one commit.

    The registry must validate first (every checksum matching), and every path in the manifest must
    be relative, so the repo unpacks anywhere. The local manifest is not changed.
    """
    from huggingface_hub import CommitOperationAdd

    check_repo_id(repo_id)
    with ExitStack() as stack:
        with registry.lock():  # held only while the files are snapshotted, not during the upload
            manifest = registry.load()
            if not manifest.experts:
                raise MoleError(f"registry {registry.root} has no experts to push")
            problems = registry.validate()
            if problems:
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                raise MoleError(
                    f"registry {registry.root} does not validate: {problems[0]}{more}; fix it before pushing"
                )
            files = [f for entry in manifest.experts for f in _expert_files(registry, entry)]
            files += _router_files(registry, manifest)
            staged = stack.enter_context(_snapshot(registry, files))
        base_dir = Path(manifest.base.id)
        if base_dir.is_absolute() or base_dir.is_dir():
            log.warning(
                "base model %s is a local path: whoever pulls this registry needs it too", manifest.base.id
            )
        repo_id = _ensure_repo(repo_id, revision, private)
        operations = [
            CommitOperationAdd(path_in_repo=MANIFEST_NAME, path_or_fileobj=manifest.to_toml().encode()),
            CommitOperationAdd(
                path_in_repo=CARD_NAME, path_or_fileobj=registry_card(manifest, repo_id).encode()
            ),
        ] + [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(staged / rel)) for rel in files]
        commit, url = _commit(
            repo_id, operations, revision=revision,
            message=commit_message or f"Upload MoLE registry ({len(manifest.experts)} experts)", progress=progress,
        )  # fmt: skip
    log.info("pushed registry %s to %s (%s)", registry.root, repo_id, commit)
    return PushResult(
        repo_id=repo_id, revision=revision or "main", commit=commit, url=url,
        files=[MANIFEST_NAME, CARD_NAME, *files], experts=manifest.names(),
        router=manifest.router.name if manifest.router else None,
    )  # fmt: skip
