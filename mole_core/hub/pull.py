"""Installing an expert or a whole registry from the Hub: fetch into a temporary place, verify, register.

An adapter fetched from the network is untrusted input. Everything lands in a temporary directory
first (outside the registry for experts, a hidden sibling for registries), is checked (sha256 against
what the publisher recorded and what the Hub's LFS metadata says, base model by name and tensor
shapes, safetensors only) and only then registered or renamed into place. A pull that fails for any
reason leaves the registry byte-for-byte as it was.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .. import atomic
from ..adapters import CONFIG_NAME, WEIGHTS_NAME, is_pickle, pickle_weights, read_adapter, sha256_file
from ..basemodel import mismatch_hint, same_base
from ..errors import AdapterError, MoleError
from ..manifest import MANIFEST_NAME, ExpertEntry, HubLocation, Manifest
from ..progress import Progress
from ..registry import Registry
from ..specs import require_name
from .cards import CARD_NAME, EXPERT_META, _read_metadata
from .client import HubError, _api, _bars, _hub_call, _say, check_repo_id, endpoint
from .snapshot import _safe_relpath
from .target import _registry_state

log = logging.getLogger("mole_core.hub")


@dataclass(frozen=True)
class PulledRegistry:
    """A registry installed from the Hub by :func:`pull_registry`."""

    directory: Path
    repo_id: str
    revision: str
    commit: str | None
    experts: list[str]
    router: str | None

    @property
    def registry(self) -> Registry:
        return Registry(self.directory)

    def to_json(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "repo_id": self.repo_id,
            "revision": self.revision,
            "commit": self.commit,
            "experts": self.experts,
            "router": self.router,
        }


def _download(repo_id: str, filename: str, commit: str, local_dir: Path, revision: str | None) -> Path:
    from huggingface_hub import hf_hub_download

    with _hub_call("download from", repo_id, revision, filename):
        path = hf_hub_download(
            repo_id, filename, revision=commit, local_dir=local_dir, endpoint=endpoint(), token=None
        )
    return Path(path)


def _repo_files(repo_id: str, revision: str | None) -> tuple[str | None, dict[str, Any]]:
    """(commit sha, {path: sibling}) of ``revision``, so every later download is pinned to one commit."""
    with _hub_call("read", repo_id, revision):
        info = _api().model_info(repo_id, revision=revision, files_metadata=True)
    return info.sha, {s.rfilename: s for s in (info.siblings or [])}


def _check_lfs(path: Path, sibling: Any, repo_id: str) -> str:
    """The file's sha256, refused when it differs from what the Hub's LFS pointer records."""
    sha = sha256_file(path)
    lfs = getattr(sibling, "lfs", None)
    expected = getattr(lfs, "sha256", None) if lfs is not None else None
    if expected and expected != sha:
        raise AdapterError(
            f"checksum mismatch for {sibling.rfilename} from {repo_id}: the Hub records {expected}, "
            f"the download is {sha} (corrupt transfer)"
        )
    return sha


@dataclass(frozen=True)
class _Source:
    """One Hub repo pinned to the commit its revision resolved to, with the files that commit holds."""

    repo_id: str
    revision: str | None
    commit: str | None
    siblings: dict[str, Any]

    @classmethod
    def resolve(cls, repo_id: str, revision: str | None, progress: Progress | None) -> _Source:
        _say(progress, f"resolving {repo_id}@{revision}" if revision else f"resolving {repo_id}")
        commit, siblings = _repo_files(repo_id, revision)
        return cls(repo_id, revision, commit, siblings)

    @property
    def where(self) -> str:
        return f"{self.repo_id}@{self.revision}" if self.revision else self.repo_id

    def fetch(self, filename: str, local_dir: Path) -> Path:
        """Download ``filename`` at the pinned commit (the module's ``_download``, so tests can corrupt it)."""
        return _download(self.repo_id, filename, self.commit or self.revision, local_dir, self.revision)

    def fetch_checked(self, filename: str, local_dir: Path) -> tuple[Path, str]:
        """Download ``filename`` and check it against the Hub's LFS sha256; returns (path, sha256)."""
        path = self.fetch(filename, local_dir)
        return path, _check_lfs(path, self.siblings[filename], self.repo_id)


# -- one expert -------------------------------------------------------------------------------------
def _expert_name(name: str | None, meta: dict[str, Any], repo_id: str, subfolder: str | None) -> str:
    candidate = (
        name or meta.get("name") or (PurePosixPath(subfolder).name if subfolder else repo_id.split("/")[-1])
    )
    if not name:
        candidate = candidate.lower()
    return require_name(candidate, "expert name", hint=" (pass --name to choose one)")


def _refuse_taken(registry: Registry, name: str, replace: bool, hint: str = "") -> None:
    if registry.load().expert(name) is not None and not replace:
        raise MoleError(f"expert {name!r} is already registered (remove it first, or replace it{hint})")


def _check_adapter_repo(source: _Source, prefix: str) -> None:
    """Refuse a repo without safetensors LoRA weights and config before anything is downloaded."""
    if prefix + WEIGHTS_NAME not in source.siblings:
        pickles = pickle_weights(lambda n: prefix + n in source.siblings)
        if pickles:
            raise AdapterError(
                f"Hub repo {source.where} has only pickle weights ({prefix}{pickles[0]}); MoLE installs safetensors only"
            )
        raise HubError(f"Hub repo {source.where} has no {prefix}{WEIGHTS_NAME}: not a PEFT LoRA adapter repo")
    if prefix + CONFIG_NAME not in source.siblings:
        raise HubError(f"Hub repo {source.where} has no {prefix}{CONFIG_NAME}: not a PEFT LoRA adapter repo")


@dataclass(frozen=True)
class _FetchedExpert:
    """An adapter downloaded into a temporary directory: not trusted until :func:`_verify_expert` passes."""

    name: str
    meta: dict[str, Any]
    adapter_dir: Path
    sha256: str


def _fetch_expert(
    source: _Source,
    prefix: str,
    tmp: Path,
    registry: Registry,
    request: dict[str, Any],
    progress: Progress | None,
) -> _FetchedExpert:
    """Metadata first (it may name the expert), then config and weights, the weights checked against LFS."""
    meta: dict[str, Any] = {}
    if prefix + EXPERT_META in source.siblings:
        meta = _read_metadata(source.fetch(prefix + EXPERT_META, tmp), source.repo_id)
    name = _expert_name(request["name"], meta, source.repo_id, request["subfolder"])
    _refuse_taken(registry, name, request["replace"], ", or pass --name")
    source.fetch(prefix + CONFIG_NAME, tmp)
    _say(progress, f"downloading {prefix}{WEIGHTS_NAME} from {source.where}")
    with _bars(progress is not None):
        weights, sha = source.fetch_checked(prefix + WEIGHTS_NAME, tmp)
    return _FetchedExpert(name=name, meta=meta, adapter_dir=weights.parent, sha256=sha)


def _verify_expert(fetched: _FetchedExpert, manifest: Manifest, where: str) -> str:
    """Rank, base model and sha256 as published; returns the sha256 the registry must find."""
    meta = fetched.meta
    info = read_adapter(fetched.adapter_dir)
    if meta.get("rank") is not None and meta["rank"] != info.rank:
        raise AdapterError(
            f"{EXPERT_META} in {where} says rank {meta['rank']}, but {CONFIG_NAME} says r={info.rank}"
        )
    if meta.get("base_model") and not same_base(meta["base_model"], manifest.base):
        raise AdapterError(mismatch_hint(where, meta["base_model"], manifest.base))
    expected = meta.get("sha256") or fetched.sha256
    if expected != fetched.sha256:  # refuse before the registry is touched; add_expert re-checks its copy
        raise AdapterError(
            f"checksum mismatch for {fetched.name!r} from {where}: {EXPERT_META} records {expected}, the weights are "
            f"{fetched.sha256} (the file is corrupt or was tampered with)"
        )
    return expected


def _register_expert(
    registry: Registry, source: _Source, fetched: _FetchedExpert, expected: str, request: dict[str, Any]
) -> ExpertEntry:
    """Hand the verified adapter to the registry; arguments given to the pull win over the metadata."""
    meta = fetched.meta
    return registry.add_expert(
        fetched.name,
        fetched.adapter_dir,
        task=request["task"] or meta.get("task"),
        rank=request["rank"],
        alpha=request["alpha"],
        plugin=request["plugin"] or meta.get("plugin"),
        examples=request["examples"] or meta.get("examples"),
        prompt_template=request["prompt_template"] or meta.get("prompt_template"),
        hub=HubLocation(
            repo_id=source.repo_id,
            revision=source.revision or "main",
            subfolder=request["subfolder"] or None,
            commit=source.commit,
        ),
        expected_sha256=expected,
        replace=request["replace"],
    )


def pull_expert(
    registry: Registry,
    repo_id: str,
    *,
    revision: str | None = None,
    name: str | None = None,
    task: str | None = None,
    rank: int | None = None,
    alpha: float | None = None,
    examples: list[str] | None = None,
    plugin: str | None = None,
    prompt_template: str | None = None,
    replace: bool = False,
    subfolder: str | None = None,
    progress: Progress | None = None,
) -> ExpertEntry:
    """Download an adapter repo to a temporary directory, verify it, and register it.

    Works for repos made by ``mole push`` (``mole-expert.json`` supplies the expected sha256, name,
    task, examples and prompt template) and for plain PEFT adapter repos (rank and alpha from ``adapter_config.json``,
    name from ``name`` or the repo). Arguments given here win over the published metadata. The
    download is pinned to the commit ``revision`` resolves to, which is recorded in the manifest.
    """
    request = dict(
        name=name, task=task, rank=rank, alpha=alpha, examples=examples, plugin=plugin,
        prompt_template=prompt_template, replace=replace, subfolder=subfolder,
    )  # fmt: skip
    check_repo_id(repo_id)
    manifest = registry.load()  # no registry: fail before any network traffic
    if name is not None:
        require_name(name, "expert name")
        _refuse_taken(registry, name, replace)
    prefix = f"{_safe_relpath(subfolder, 'subfolder')}/" if subfolder else ""
    source = _Source.resolve(repo_id, revision, progress)
    _check_adapter_repo(source, prefix)
    tmp = atomic.staging_dir(registry.root, "pull")  # hidden, never listed; `validate --clean` sees a crash's
    try:
        fetched = _fetch_expert(source, prefix, tmp, registry, request, progress)
        expected = _verify_expert(fetched, manifest, source.where)
        _say(progress, f"verifying and registering {fetched.name}")
        entry = _register_expert(registry, source, fetched, expected, request)
    except AdapterError as exc:  # name the repo, not the temporary directory it was checked in
        raise AdapterError(
            str(exc).replace(str(tmp / prefix).rstrip("/"), f"Hub repo {source.where}")
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("pulled expert %s from %s (%s)", entry.name, source.where, source.commit)
    return entry


# -- a whole registry -------------------------------------------------------------------------------
def _registry_files(manifest: Manifest, source: _Source) -> list[str]:
    """Every file the pulled manifest needs, refused when one is missing, unverifiable or a pickle."""
    where, siblings = source.where, source.siblings
    wanted: list[str] = []
    for entry in manifest.experts:
        rel = _safe_relpath(entry.path, f"expert {entry.name!r}")
        if entry.sha256 is None:
            raise AdapterError(f"expert {entry.name!r} in {where} has no sha256 recorded: cannot verify it")
        for filename in (CONFIG_NAME, WEIGHTS_NAME):
            if f"{rel}/{filename}" not in siblings:
                raise HubError(f"Hub repo {where} lacks {rel}/{filename} (listed for expert {entry.name!r})")
        wanted += [f"{rel}/{n}" for n in (CONFIG_NAME, WEIGHTS_NAME, CARD_NAME) if f"{rel}/{n}" in siblings]
    if manifest.router is not None:
        rel = _safe_relpath(manifest.router.path, f"router {manifest.router.name!r}")
        router_files = [p for p in siblings if p.startswith(f"{rel}/")]
        for name in router_files:  # a Hub file name with `..` or an absolute part never reaches the disk
            _safe_relpath(name, f"router {manifest.router.name!r} file")
        if not router_files:
            raise HubError(f"Hub repo {where} lacks the router directory {rel}/")
        pickles = [p for p in router_files if is_pickle(p)]
        if pickles:
            raise AdapterError(
                f"router file {pickles[0]} in {where} is a pickle; MoLE installs safetensors only"
            )
        if manifest.router.sha256 is None:
            log.warning(
                "router %s in %s has no sha256 recorded: it is not verified", manifest.router.name, where
            )
        wanted += sorted(router_files)
    return wanted


def _fetch_registry(source: _Source, staged: Path, progress: Progress | None) -> Manifest:
    """The manifest, then every file it names, each checked against the Hub's LFS records."""
    manifest = Manifest.read(source.fetch(MANIFEST_NAME, staged))
    wanted = _registry_files(manifest, source)
    _say(progress, f"downloading {len(wanted)} files from {source.where}")
    with _bars(progress is not None):
        for i, rel_file in enumerate(wanted, 1):
            log.debug("downloading %s (%d/%d)", rel_file, i, len(wanted))
            source.fetch_checked(rel_file, staged)
    shutil.rmtree(staged / ".cache", ignore_errors=True)  # huggingface_hub's local_dir bookkeeping
    return manifest


def _verify_registry(staged: Path, where: str, progress: Progress | None) -> None:
    _say(progress, "verifying checksums")
    problems = Registry(staged).validate()
    if problems:
        raise AdapterError(
            f"registry from {where} failed verification: {problems[0]} (nothing was installed)"
        )


def _install_registry(staged: Path, target: Path, force: bool) -> None:
    """Rename the verified staging directory into place (under the old registry's lock when replacing it)."""
    _registry_state(target, force)  # re-check: someone may have created it meanwhile
    if target.exists() and (target / MANIFEST_NAME).is_file():
        with Registry(target).lock():
            atomic.publish_dir(staged, target)
    else:
        atomic.publish_dir(staged, target)


def pull_registry(
    repo_id: str,
    directory: str | os.PathLike[str],
    *,
    revision: str | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> PulledRegistry:
    """Install a registry pushed with :func:`push_registry` into ``directory``, all or nothing.

    Files are downloaded into a hidden staging directory next to ``directory``, every expert's and
    the router's sha256 is checked against the pulled manifest (and the Hub's LFS records), and only
    then is the staging directory renamed into place. ``force`` replaces an existing registry.
    """
    check_repo_id(repo_id)
    target = Path(directory)
    _registry_state(target, force)
    source = _Source.resolve(repo_id, revision, progress)
    if MANIFEST_NAME not in source.siblings:
        raise HubError(
            f"Hub repo {source.where} has no {MANIFEST_NAME}: not a MoLE registry (for one expert use `mole pull`)"
        )
    staged = atomic.staging_dir(target.parent, target.name)
    try:
        manifest = _fetch_registry(source, staged, progress)
        _verify_registry(staged, source.where, progress)
        _install_registry(staged, target, force)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    base = Path(manifest.base.id)
    if not base.exists() and (base.is_absolute() or manifest.base.id.startswith(".")):
        log.warning(
            "the pulled registry's base model %s is a local path missing on this machine", manifest.base.id
        )
    log.info("pulled registry %s into %s (%s)", source.where, target, source.commit)
    return PulledRegistry(
        directory=target,
        repo_id=repo_id,
        revision=revision or "main",
        commit=source.commit,
        experts=manifest.names(),
        router=manifest.router.name if manifest.router else None,
    )
