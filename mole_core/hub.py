"""Publishing and installing experts and whole registries through the Hugging Face Hub.

Why this module exists: an adapter fetched from the network is untrusted input. Everything lands in a
temporary directory first (outside the registry for experts, a hidden sibling for registries), is
checked (sha256 against what the publisher recorded and what the Hub's LFS metadata says, base
model by name and tensor shapes, safetensors only) and only then registered or renamed into place.
A pull that fails for any reason leaves the registry byte-for-byte as it was.

Tokens are never handled here: every call passes ``token=None`` so ``huggingface_hub`` resolves
``HF_TOKEN`` or the stored login itself, and every error message is built by MoLE (never the
client's text verbatim, which may carry URLs and headers) and scrubbed of anything token-like.
The endpoint is read at call time (``HF_ENDPOINT``), not at import time.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from . import atomic
from .adapters import CONFIG_NAME, PICKLE_WEIGHTS, WEIGHTS_NAME, read_adapter, same_base, sha256_file
from .errors import AdapterError, MoleError
from .manifest import MANIFEST_NAME, SHA256_PATTERN, ExpertEntry, HubLocation, Manifest, utcnow
from .registry import Registry
from .specs import check_name

log = logging.getLogger(__name__)

EXPERT_META = "mole-expert.json"
CARD_NAME = "README.md"
META_VERSION = 1
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
EXPERT_TAGS = ["mole", "mole-expert", "lora", "peft"]
REGISTRY_TAGS = ["mole", "mole-registry", "lora", "peft"]

Progress = Callable[[str], None]
"""Receives one-line status messages during long Hub work (the CLI prints them on stderr)."""


class HubError(MoleError):
    """The Hub refused or failed a request: missing repo or revision, bad token, dropped connection."""


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


# -- client plumbing --------------------------------------------------------------------------------
def endpoint() -> str:
    """The Hub endpoint, read now: ``HF_ENDPOINT`` if set, else what ``huggingface_hub`` resolved."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def _api() -> Any:
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint(), token=None)  # None: HF_TOKEN or the stored login, never argv


def _current_token() -> str | None:
    try:
        from huggingface_hub import get_token

        return get_token()
    except Exception:  # OIDC exchange failures and the like: treat as "no token"
        return None


_TOKEN_RE = re.compile(r"\bhf_[A-Za-z0-9_]{6,}")
_BEARER_RE = re.compile(r"(?i)\b(authorization|bearer)\b[\s:=]+(?:bearer\s+)?\S+")
_QUERY_RE = re.compile(r"(https?://[^\s?]+)\?\S*")


def sanitize(text: str) -> str:
    """One line with the active token, anything token-shaped, auth headers and signed URL queries removed."""
    token = _current_token()
    if token:
        text = text.replace(token, "***")
    text = _TOKEN_RE.sub("hf_***", text)
    text = _BEARER_RE.sub(r"\1 ***", text)
    text = _QUERY_RE.sub(r"\1", text)
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first[:200]


def _transport_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module in ("httpx2", "httpx", "requests"):
        try:
            mod = __import__(module)
        except ImportError:
            continue
        base = getattr(mod, "RequestError", None) or getattr(
            getattr(mod, "exceptions", None), "RequestException", None
        )
        if isinstance(base, type) and issubclass(base, BaseException):
            errors.append(base)
    return tuple(errors)


@contextmanager
def _hub_call(
    action: str, repo_id: str, revision: str | None = None, filename: str | None = None
) -> Iterator[None]:
    """Turn the client's exceptions into one-line :class:`HubError` messages that never carry a token."""
    from huggingface_hub import errors as hf

    where = f"{repo_id}@{revision}" if revision else repo_id
    try:
        yield
    except MoleError:
        raise
    except hf.GatedRepoError:
        raise HubError(
            f"Hub repo {repo_id} is gated: accept its terms on the Hub with the account of HF_TOKEN"
        ) from None
    except hf.RepositoryNotFoundError:
        raise HubError(f"Hub repo {repo_id} not found (or private: set HF_TOKEN)") from None
    except hf.RevisionNotFoundError:
        raise HubError(f"revision {revision!r} not found in Hub repo {repo_id}") from None
    except hf.OfflineModeIsEnabled:
        raise HubError(
            "HF_HUB_OFFLINE=1 is set, so the Hub cannot be reached (unset it to push or pull)"
        ) from None
    except hf.LocalEntryNotFoundError:
        raise HubError(f"cannot reach the Hub at {sanitize(endpoint())} to {action} {where}") from None
    except (hf.EntryNotFoundError, hf.RemoteEntryNotFoundError):
        raise HubError(f"{filename or 'a file'} not found in Hub repo {where}") from None
    except hf.HfHubHTTPError as exc:
        status = exc.response.status_code if getattr(exc, "response", None) is not None else None
        if status == 401:
            hint = (
                "the Hub rejected the token (HTTP 401): check HF_TOKEN or run `hf auth login`"
                if _current_token()
                else "the Hub needs a token for this (HTTP 401): set HF_TOKEN or run `hf auth login`"
            )
            raise HubError(f"cannot {action} {where}: {hint}") from None
        if status == 403:
            raise HubError(
                f"cannot {action} {where}: the token has no permission for it (HTTP 403; a write token is needed to push)"
            ) from None
        detail = sanitize(getattr(exc, "server_message", None) or "")
        raise HubError(
            f"cannot {action} {where}: Hub answered HTTP {status}" + (f" ({detail})" if detail else "")
        ) from None
    except hf.HFValidationError as exc:
        raise HubError(f"invalid Hub repo id or revision {where!r}: {sanitize(str(exc))}") from None
    except _transport_errors() as exc:
        detail = sanitize(str(exc))
        doing = f"downloading {filename} from {where}" if filename else f"trying to {action} {where}"
        raise HubError(
            f"connection to the Hub failed while {doing} ({type(exc).__name__}{': ' + detail if detail else ''})"
        ) from None


@contextmanager
def _bars(enabled: bool) -> Iterator[None]:
    """``huggingface_hub``'s tqdm bars only when the caller asked for progress (the CLI does)."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_disabled = are_progress_bars_disabled()
    if not enabled and not was_disabled:
        disable_progress_bars()
    try:
        yield
    finally:
        if not enabled and not was_disabled:
            enable_progress_bars()


def _say(progress: Progress | None, message: str) -> None:
    log.info("%s", message)
    if progress is not None:
        progress(message)


def check_repo_id(repo_id: str) -> str:
    """Refuse what cannot be a Hub repo id before any request is made."""
    if not isinstance(repo_id, str) or not re.fullmatch(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?", repo_id or ""):
        raise HubError(f"invalid Hub repo id {repo_id!r} (expected NAME or ORG/NAME)")
    return repo_id


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


# -- model cards and metadata -----------------------------------------------------------------------
def _hub_model_id(base: str) -> str | None:
    """``base`` when it reads as a Hub model id; None for local paths (the Hub refuses those as base_model)."""
    if base.startswith((".", "~", "/")) or "\\" in base or Path(base).is_absolute() or Path(base).exists():
        return None
    return base if re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+|[A-Za-z0-9][\w.-]*", base) else None


def _display_base(base: str) -> str:
    return _hub_model_id(base) or PurePosixPath(base.replace("\\", "/").rstrip("/")).name or base


def expert_metadata(entry: ExpertEntry) -> dict[str, Any]:
    """The manifest entry as published in ``mole-expert.json``: no local path, no hub location."""
    data = entry.model_dump(mode="json", exclude_none=True, exclude={"path", "hub", "updated_at"})
    if not _hub_model_id(entry.base_model):
        data["base_model"] = _display_base(entry.base_model)
    return {"mole_expert_version": META_VERSION, **data}


def _yaml_front_matter(data: dict[str, Any]) -> str:
    import yaml

    return "---\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True) + "---\n"


def expert_card(entry: ExpertEntry, repo_id: str) -> str:
    """A model card (``README.md``) with Hub metadata, so the expert is findable and self-describing."""
    meta: dict[str, Any] = {}
    hub_base = _hub_model_id(entry.base_model)
    if hub_base:
        meta["base_model"] = hub_base
    meta.update(
        library_name="peft",
        pipeline_tag="text-generation",
        tags=EXPERT_TAGS,
        task=entry.task or "",
        rank=entry.rank,
        lora_alpha=entry.alpha,
    )
    lines = [
        _yaml_front_matter(meta),
        f"# {entry.name}: a MoLE expert",
        "",
        f"A LoRA adapter (rank {entry.rank}, alpha {entry.alpha:g}) for `{_display_base(entry.base_model)}`, "
        "published with [MoLE](https://github.com/) (Mixture of LoRA Experts).",
        "",
    ]
    if entry.task:
        lines += [f"**Task:** {entry.task}", ""]
    lines += [
        f"- target modules: {', '.join(f'`{m}`' for m in entry.target_modules)}",
        f"- sha256 of `{WEIGHTS_NAME}`: `{entry.sha256}`",
    ]
    if entry.plugin:
        lines.append(f"- plugin: `{entry.plugin}`")
    if entry.training is not None:
        t = entry.training
        parts = [
            f"{k} {v}"
            for k, v in (
                ("dataset", t.dataset),
                ("examples", t.examples),
                ("steps", t.steps),
                ("final loss", t.final_loss),
            )
            if v is not None
        ]
        if parts:
            lines.append(f"- training: {', '.join(parts)}")
    if entry.examples:
        lines += ["", "Example queries:", ""] + [f"- {e}" for e in entry.examples[:8]]
    lines += [
        "",
        "## Use it",
        "",
        "```bash",
        f"mole add-expert {entry.name} --hub {repo_id}",
        "```",
        "",
        "or with PEFT alone:",
        "",
        "```python",
        "from peft import PeftModel",
        f'model = PeftModel.from_pretrained(base_model, "{repo_id}")',
        "```",
        "",
        f"`{EXPERT_META}` holds the MoLE manifest entry; `mole pull` checks the weights against its sha256.",
        "",
    ]
    return "\n".join(lines)


def registry_card(manifest: Manifest, repo_id: str) -> str:
    """The README of a whole-registry repo: base model, experts, router, how to install."""
    meta: dict[str, Any] = {}
    hub_base = _hub_model_id(manifest.base.id)
    if hub_base:
        meta["base_model"] = hub_base
    meta.update(library_name="peft", tags=REGISTRY_TAGS)
    lines = [
        _yaml_front_matter(meta),
        "# A MoLE registry",
        "",
        f"Base model `{_display_base(manifest.base.id)}` with {len(manifest.experts)} LoRA experts"
        + (f" and a `{manifest.router.name}` router." if manifest.router else "."),
        "",
        "| expert | rank | task |",
        "|---|---|---|",
    ]
    lines += [f"| {e.name} | {e.rank} | {e.task or '-'} |" for e in manifest.experts]
    lines += [
        "",
        "## Install",
        "",
        "```bash",
        f"mole pull-registry {repo_id} my-registry",
        "```",
        "",
        f"`{MANIFEST_NAME}` lists every file's sha256; `mole pull-registry` verifies them all before installing.",
        "",
    ]
    return "\n".join(lines)


def _read_metadata(path: Path, repo_id: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AdapterError(f"{EXPERT_META} in {repo_id} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise AdapterError(f"{EXPERT_META} in {repo_id}: expected a JSON object")
    sha = data.get("sha256")
    if sha is not None and (not isinstance(sha, str) or not re.fullmatch(SHA256_PATTERN, sha)):
        raise AdapterError(f"{EXPERT_META} in {repo_id}: sha256 must be 64 hex digits")
    examples = data.get("examples")
    if examples is not None and (
        not isinstance(examples, list) or not all(isinstance(e, str) for e in examples)
    ):
        raise AdapterError(f"{EXPERT_META} in {repo_id}: examples must be a list of strings")
    for key in ("name", "task", "plugin", "base_model"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise AdapterError(f"{EXPERT_META} in {repo_id}: {key} must be a string")
    return data


# -- local snapshots --------------------------------------------------------------------------------
def _safe_relpath(path: str, what: str) -> PurePosixPath:
    """A registry-relative path that stays inside the registry (pushed and pulled manifests alike)."""
    rel = PurePosixPath(path.replace("\\", "/"))
    if not path or rel.is_absolute() or ".." in rel.parts or rel.parts[:1] in ((".",), ()) or ":" in path:
        raise MoleError(f"{what} path {path!r} must be relative and inside the registry directory")
    return rel


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)  # registry files are replaced by rename, never rewritten: a link is a snapshot
    except OSError:
        shutil.copy2(src, dst)


@contextmanager
def _snapshot(registry: Registry, files: list[str]) -> Iterator[Path]:
    """Freeze ``files`` (registry-relative) in a hidden directory, so a concurrent change cannot mix into a push."""
    staged = atomic.staging_dir(registry.root, "push")
    try:
        for rel in files:
            _link_or_copy(registry.root / rel, staged / rel)
        yield staged
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _expert_files(registry: Registry, entry: ExpertEntry) -> list[str]:
    rel = _safe_relpath(entry.path, f"expert {entry.name!r}")
    directory = registry.root / rel
    if not (directory / WEIGHTS_NAME).is_file():
        pickles = [n for n in PICKLE_WEIGHTS if (directory / n).is_file()]
        if pickles:
            raise AdapterError(
                f"expert {entry.name!r} has only pickle weights ({pickles[0]}); MoLE publishes safetensors only"
            )
        raise AdapterError(
            f"expert {entry.name!r}: {directory / WEIGHTS_NAME} is missing (run `mole validate`)"
        )
    if not (directory / CONFIG_NAME).is_file():
        raise AdapterError(
            f"expert {entry.name!r}: {directory / CONFIG_NAME} is missing (run `mole validate`)"
        )
    names = [CONFIG_NAME, WEIGHTS_NAME] + ([CARD_NAME] if (directory / CARD_NAME).is_file() else [])
    return [str(rel / n) for n in names]


def _router_files(registry: Registry, manifest: Manifest) -> list[str]:
    router = manifest.router
    if router is None:
        return []
    rel = _safe_relpath(router.path, f"router {router.name!r}")
    directory = registry.root / rel
    if not directory.is_dir():
        raise MoleError(f"router directory {directory} is missing (run `mole validate`)")
    out = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        sub = path.relative_to(directory)
        if any(part.startswith(".") for part in sub.parts):
            continue
        if path.suffix in PICKLE_SUFFIXES:
            raise AdapterError(f"router file {path} is a pickle; MoLE publishes safetensors only")
        out.append(str(rel / PurePosixPath(*sub.parts)))
    return out


# -- pushing ----------------------------------------------------------------------------------------
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


# -- pulling ----------------------------------------------------------------------------------------
def _expert_name(name: str | None, meta: dict[str, Any], repo_id: str, subfolder: str | None) -> str:
    candidate = (
        name or meta.get("name") or (PurePosixPath(subfolder).name if subfolder else repo_id.split("/")[-1])
    )
    if not name:
        candidate = candidate.lower()
    try:
        return check_name(candidate, "expert name")
    except ValueError as exc:
        raise MoleError(f"{exc} (pass --name to choose one)") from None


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
    check_repo_id(repo_id)
    manifest = registry.load()  # no registry: fail before any network traffic
    if name is not None:
        try:
            check_name(name, "expert name")
        except ValueError as exc:
            raise MoleError(str(exc)) from None
        if manifest.expert(name) is not None and not replace:
            raise MoleError(f"expert {name!r} is already registered (remove it first, or replace it)")
    prefix = f"{_safe_relpath(subfolder, 'subfolder')}/" if subfolder else ""
    where = f"{repo_id}@{revision}" if revision else repo_id
    _say(progress, f"resolving {where}")
    commit, siblings = _repo_files(repo_id, revision)
    if prefix + WEIGHTS_NAME not in siblings:
        pickles = [n for n in PICKLE_WEIGHTS if prefix + n in siblings]
        if pickles:
            raise AdapterError(
                f"Hub repo {where} has only pickle weights ({prefix}{pickles[0]}); MoLE installs safetensors only"
            )
        raise HubError(f"Hub repo {where} has no {prefix}{WEIGHTS_NAME}: not a PEFT LoRA adapter repo")
    if prefix + CONFIG_NAME not in siblings:
        raise HubError(f"Hub repo {where} has no {prefix}{CONFIG_NAME}: not a PEFT LoRA adapter repo")

    tmp = Path(tempfile.mkdtemp(prefix="mole-pull-"))
    try:
        meta: dict[str, Any] = {}
        if prefix + EXPERT_META in siblings:
            meta = _read_metadata(
                _download(repo_id, prefix + EXPERT_META, commit or revision, tmp, revision), repo_id
            )
        name = _expert_name(name, meta, repo_id, subfolder)
        if registry.load().expert(name) is not None and not replace:
            raise MoleError(
                f"expert {name!r} is already registered (remove it first, or replace it, or pass --name)"
            )
        _download(repo_id, prefix + CONFIG_NAME, commit or revision, tmp, revision)
        _say(progress, f"downloading {prefix}{WEIGHTS_NAME} from {where}")
        with _bars(progress is not None):
            weights = _download(repo_id, prefix + WEIGHTS_NAME, commit or revision, tmp, revision)
        actual_sha = _check_lfs(weights, siblings[prefix + WEIGHTS_NAME], repo_id)
        adapter_dir = weights.parent
        info = read_adapter(adapter_dir)
        if meta.get("rank") is not None and meta["rank"] != info.rank:
            raise AdapterError(
                f"{EXPERT_META} in {where} says rank {meta['rank']}, but {CONFIG_NAME} says r={info.rank}"
            )
        if meta.get("base_model") and not same_base(meta["base_model"], manifest.base.id):
            raise AdapterError(
                f"{where} was made for base model {meta['base_model']!r}, but this registry's base is {manifest.base.id!r}"
            )
        expected = meta.get("sha256") or actual_sha
        if expected != actual_sha:  # refuse before the registry is touched; add_expert re-checks its copy
            raise AdapterError(
                f"checksum mismatch for {name!r} from {where}: {EXPERT_META} records {expected}, the weights are "
                f"{actual_sha} (the file is corrupt or was tampered with)"
            )
        _say(progress, f"verifying and registering {name}")
        entry = registry.add_expert(
            name,
            adapter_dir,
            task=task or meta.get("task"),
            rank=rank,
            alpha=alpha,
            plugin=plugin or meta.get("plugin"),
            examples=examples or meta.get("examples"),
            prompt_template=prompt_template or meta.get("prompt_template"),
            hub=HubLocation(
                repo_id=repo_id, revision=revision or "main", subfolder=subfolder or None, commit=commit
            ),
            expected_sha256=expected,
            replace=replace,
        )
    except AdapterError as exc:  # name the repo, not the temporary directory it was checked in
        raise AdapterError(str(exc).replace(str(tmp / prefix).rstrip("/"), f"Hub repo {where}")) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("pulled expert %s from %s (%s)", entry.name, where, commit)
    return entry


def _registry_state(directory: Path, force: bool) -> None:
    if not directory.exists():
        return
    if not directory.is_dir():
        raise MoleError(f"{directory} exists and is not a directory")
    if (directory / MANIFEST_NAME).is_file():
        if not force:
            raise MoleError(f"{directory} already holds a registry (pass --force to replace it)")
        return
    if any(directory.iterdir()):
        raise MoleError(f"{directory} exists and is not empty (choose a new directory)")


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
    where = f"{repo_id}@{revision}" if revision else repo_id
    _say(progress, f"resolving {where}")
    commit, siblings = _repo_files(repo_id, revision)
    if MANIFEST_NAME not in siblings:
        raise HubError(
            f"Hub repo {where} has no {MANIFEST_NAME}: not a MoLE registry (for one expert use `mole pull`)"
        )
    staged = atomic.staging_dir(target.parent, target.name)
    try:
        pinned = commit or revision
        manifest = Manifest.read(_download(repo_id, MANIFEST_NAME, pinned, staged, revision))
        wanted: list[str] = []
        for entry in manifest.experts:
            rel = _safe_relpath(entry.path, f"expert {entry.name!r}")
            if entry.sha256 is None:
                raise AdapterError(
                    f"expert {entry.name!r} in {where} has no sha256 recorded: cannot verify it"
                )
            for filename in (CONFIG_NAME, WEIGHTS_NAME):
                if f"{rel}/{filename}" not in siblings:
                    raise HubError(
                        f"Hub repo {where} lacks {rel}/{filename} (listed for expert {entry.name!r})"
                    )
            wanted += [
                f"{rel}/{n}" for n in (CONFIG_NAME, WEIGHTS_NAME, CARD_NAME) if f"{rel}/{n}" in siblings
            ]
        if manifest.router is not None:
            rel = _safe_relpath(manifest.router.path, f"router {manifest.router.name!r}")
            router_files = [p for p in siblings if p.startswith(f"{rel}/")]
            if not router_files:
                raise HubError(f"Hub repo {where} lacks the router directory {rel}/")
            pickles = [p for p in router_files if PurePosixPath(p).suffix in PICKLE_SUFFIXES]
            if pickles:
                raise AdapterError(
                    f"router file {pickles[0]} in {where} is a pickle; MoLE installs safetensors only"
                )
            if manifest.router.sha256 is None:
                log.warning(
                    "router %s in %s has no sha256 recorded: it is not verified", manifest.router.name, where
                )
            wanted += sorted(router_files)
        _say(progress, f"downloading {len(wanted)} files from {where}")
        with _bars(progress is not None):
            for i, rel_file in enumerate(wanted, 1):
                log.debug("downloading %s (%d/%d)", rel_file, i, len(wanted))
                _check_lfs(
                    _download(repo_id, rel_file, pinned, staged, revision), siblings[rel_file], repo_id
                )
        shutil.rmtree(staged / ".cache", ignore_errors=True)  # huggingface_hub's local_dir bookkeeping
        _say(progress, "verifying checksums")
        problems = Registry(staged).validate()
        if problems:
            raise AdapterError(
                f"registry from {where} failed verification: {problems[0]} (nothing was installed)"
            )
        _registry_state(target, force)  # re-check: someone may have created it meanwhile
        if target.exists() and (target / MANIFEST_NAME).is_file():
            with Registry(target).lock():
                atomic.publish_dir(staged, target)
        else:
            atomic.publish_dir(staged, target)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    if not Path(manifest.base.id).exists() and (
        Path(manifest.base.id).is_absolute() or manifest.base.id.startswith(".")
    ):
        log.warning(
            "the pulled registry's base model %s is a local path missing on this machine", manifest.base.id
        )
    log.info("pulled registry %s into %s (%s)", where, target, commit)
    return PulledRegistry(
        directory=target,
        repo_id=repo_id,
        revision=revision or "main",
        commit=commit,
        experts=manifest.names(),
        router=manifest.router.name if manifest.router else None,
    )


__all__ = [
    "EXPERT_META",
    "HubError",
    "PulledRegistry",
    "PushResult",
    "check_repo_id",
    "endpoint",
    "expert_card",
    "expert_metadata",
    "pull_expert",
    "pull_registry",
    "push_expert",
    "push_registry",
    "registry_card",
    "sanitize",
]
