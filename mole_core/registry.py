"""The registry directory: ``mole.toml`` plus the adapters and router it records.

The registry is the only writer of the manifest. Every change runs under an exclusive file lock and
ends in an atomic rename, so concurrent ``mole`` processes never lose an entry and a crash leaves the
old manifest or the new one. Adapter directories are staged next to their final place and renamed in
before the manifest names them; a crash in between leaves an unlisted directory, never a listed
entry without files.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from . import atomic
from .adapters import (
    ADAPTER_FILES,
    CONFIG_NAME,
    WEIGHTS_NAME,
    AdapterInfo,
    check_shapes,
    convert_pickle,
    read_adapter,
    sha256_file,
    weights_path,
)
from .basemodel import mismatch_hint, same_base
from .errors import AdapterError, MoleError, NotFoundError, RegistryBusyError
from .manifest import (
    MANIFEST_NAME,
    BaseModelRef,
    ExpertEntry,
    HubLocation,
    Manifest,
    RouterEntry,
    TrainingRecord,
    utcnow,
)
from .specs import DEFAULT_TEMPLATE, check_name, check_prompt_template

log = logging.getLogger(__name__)

LOCK_NAME = ".mole.lock"
LOCK_TIMEOUT = float(os.environ.get("MOLE_LOCK_TIMEOUT", "120"))


@dataclass(frozen=True)
class Problem:
    """One thing ``validate`` found wrong."""

    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}"


#: Leftovers younger than this may belong to a write still in progress (staging happens outside the lock).
LEFTOVER_MIN_AGE_S = 3600
_HIDDEN_KINDS = {".tmp": "staging", ".old": "replaced", ".removed": "removed"}


@dataclass(frozen=True)
class Leftover:
    """A directory an interrupted write left behind: never listed, so harmless but for its disk space."""

    path: Path
    kind: str  # staging | replaced | removed | unlisted
    bytes: int
    age_s: float

    def __str__(self) -> str:
        return f"{self.path} ({self.kind}, {self.bytes / 1e6:.1f} MB, {self.age_s / 60:.0f} min old)"


class Registry:
    """A registry directory. Cheap to construct; every method re-reads the manifest."""

    def __init__(self, root: str | os.PathLike[str] = ".") -> None:
        self.root = Path(root)

    # -- paths --------------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_NAME

    def expert_dir(self, entry_or_name: ExpertEntry | str) -> Path:
        if isinstance(entry_or_name, ExpertEntry):
            return self.root / entry_or_name.path
        return self.root / "experts" / entry_or_name

    def router_dir(self, entry: RouterEntry) -> Path:
        return self.root / entry.path

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    # -- reading ------------------------------------------------------------------------------------
    def load(self) -> Manifest:
        if not self.manifest_path.is_file():
            raise NotFoundError(
                f"no registry at {self.root} (no {MANIFEST_NAME}; run `mole init {self.root}`)"
            )
        return Manifest.read(self.manifest_path)

    def experts(self) -> list[ExpertEntry]:
        return self.load().experts

    def get_expert(self, name: str) -> ExpertEntry:
        manifest = self.load()
        entry = manifest.expert(name)
        if entry is None:
            known = ", ".join(manifest.names()) or "none"
            raise NotFoundError(f"no expert {name!r} in {self.manifest_path} (registered: {known})")
        return entry

    # -- writing ------------------------------------------------------------------------------------
    @contextmanager
    def lock(self, timeout: float | None = None) -> Iterator[None]:
        lock = FileLock(str(self.root / LOCK_NAME), timeout=LOCK_TIMEOUT if timeout is None else timeout)
        try:
            lock.acquire()
        except Timeout:
            raise RegistryBusyError(f"registry {self.root} is locked by another process") from None
        try:
            yield
        finally:
            lock.release()

    @contextmanager
    def transaction(self) -> Iterator[Manifest]:
        """Lock, load, let the caller change the manifest, write it back atomically."""
        with self.lock():
            manifest = self.load()
            yield manifest
            self._write(manifest)

    def _write(self, manifest: Manifest) -> None:
        text = Manifest.model_validate(manifest.model_dump()).to_toml()  # re-validate before writing
        atomic.write_text(self.manifest_path, text)

    @classmethod
    def init(
        cls,
        root: str | os.PathLike[str],
        base: str,
        revision: str | None = None,
        dtype: str = "float32",
        exist_ok: bool = False,
    ) -> Registry:
        """Create a registry directory for ``base``; refuse to overwrite an existing one."""
        registry = cls(root)
        registry.root.mkdir(parents=True, exist_ok=True)
        with registry.lock():
            if registry.exists():
                if exist_ok:
                    manifest = registry.load()
                    if manifest.base.id != base:
                        raise MoleError(
                            f"{registry.manifest_path} already exists for base model {manifest.base.id!r}"
                        )
                    return registry
                raise MoleError(f"{registry.manifest_path} already exists")
            try:
                manifest = Manifest(base=BaseModelRef(id=base, revision=revision, dtype=dtype))
            except Exception as exc:
                raise MoleError(f"invalid base model settings: {exc}") from None
            registry._write(manifest)
        return registry

    def add_expert(
        self,
        name: str,
        adapter: str | os.PathLike[str],
        *,
        task: str | None = None,
        rank: int | None = None,
        alpha: float | None = None,
        plugin: str | None = None,
        examples: list[str] | None = None,
        prompt_template: str | None = None,
        hub: HubLocation | None = None,
        training: TrainingRecord | None = None,
        expected_sha256: str | None = None,
        replace: bool = False,
        allow_pickle: bool = False,
        base_config: dict[str, Any] | None = None,
        allow_base_mismatch: bool = False,
    ) -> ExpertEntry:
        """Copy a PEFT adapter into the registry and record it.

        Rank, alpha and target modules come from ``adapter_config.json``; a ``rank``/``alpha`` given
        here that contradicts the file is refused, as is an adapter made for another base model
        (by recorded name, see :func:`~mole_core.basemodel.same_base`, unless ``allow_base_mismatch``;
        and by tensor shapes when the base model's config is at hand, always).
        ``expected_sha256`` (from the Hub, say) must match the weights, or nothing is registered.
        """
        try:
            check_name(name, "expert name")
        except ValueError as exc:
            raise MoleError(str(exc)) from None
        try:
            template = check_prompt_template(prompt_template or DEFAULT_TEMPLATE)
        except ValueError as exc:
            raise MoleError(str(exc)) from None
        manifest = self.load()
        if manifest.expert(name) is not None and not replace:
            raise MoleError(f"expert {name!r} is already registered (remove it first, or replace it)")
        info = read_adapter(adapter, allow_pickle=allow_pickle)
        self._check_against(
            info,
            manifest.base,
            rank=rank,
            alpha=alpha,
            base_config=base_config,
            by_name=not allow_base_mismatch,
        )

        staged = atomic.staging_dir(self.root / "experts", name)
        try:
            source_weights = weights_path(info.path)
            shutil.copy2(info.path / CONFIG_NAME, staged / CONFIG_NAME)
            if source_weights.name == WEIGHTS_NAME:
                shutil.copy2(source_weights, staged / WEIGHTS_NAME)
            else:  # an opted-in pickle is converted once, so nothing downstream ever unpickles
                convert_pickle(source_weights, staged / WEIGHTS_NAME)
            sha = sha256_file(staged / WEIGHTS_NAME)
            if expected_sha256 is not None and sha != expected_sha256:
                raise AdapterError(
                    f"checksum mismatch for {name!r}: expected {expected_sha256}, got {sha} "
                    f"(the file is corrupt or was tampered with)"
                )
            now = utcnow()
            entry = ExpertEntry(
                name=name,
                task=task or "",
                rank=info.rank,
                alpha=info.alpha,
                target_modules=info.target_modules,
                base_model=manifest.base.id,
                plugin=plugin,
                path=f"experts/{name}",
                hub=hub,
                sha256=sha,
                examples=[e for e in (examples or []) if e.strip()],
                prompt_template=template,
                training=training,
                created_at=now,
                updated_at=now,
            )
            _write_card(staged, entry)
            with self.transaction() as manifest:
                old = manifest.expert(name)
                if old is not None and not replace:
                    raise MoleError(f"expert {name!r} is already registered (remove it first, or replace it)")
                if old is not None:
                    entry.created_at = old.created_at
                    manifest.experts = [e for e in manifest.experts if e.name != name]
                atomic.publish_dir(staged, self.expert_dir(name))
                manifest.experts.append(entry)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            with suppress(OSError):  # leave no empty experts/ behind a refused first adapter
                (self.root / "experts").rmdir()
            raise
        log.info("registered expert %s (r=%d) from %s", name, entry.rank, info.path)
        return entry

    def _check_against(
        self,
        info: AdapterInfo,
        base: BaseModelRef,
        *,
        rank: int | None,
        alpha: float | None,
        base_config: dict[str, Any] | None,
        by_name: bool = True,
    ) -> None:
        if rank is not None and rank != info.rank:
            raise AdapterError(
                f"--rank {rank} contradicts {info.path / CONFIG_NAME}, which says r={info.rank}"
            )
        if alpha is not None and float(alpha) != info.alpha:
            raise AdapterError(
                f"--alpha {alpha} contradicts {info.path / CONFIG_NAME}, which says lora_alpha={info.alpha:g}"
            )
        if by_name and not same_base(info.base_model, base):
            raise AdapterError(mismatch_hint(str(info.path), info.base_model or "", base))
        if base_config is None:
            from .basemodel import local_config

            base_config = local_config(base)
        if base_config is not None and (info.path / WEIGHTS_NAME).is_file():
            check_shapes(info.path, base_config)

    def remove_expert(self, name: str) -> ExpertEntry:
        """Drop an expert from the manifest, then delete its files."""
        with self.transaction() as manifest:
            entry = manifest.expert(name)
            if entry is None:
                raise NotFoundError(f"no expert {name!r} in {self.manifest_path}")
            manifest.experts = [e for e in manifest.experts if e.name != name]
        target = self.expert_dir(entry)
        if target.exists() and target.resolve().is_relative_to(self.root.resolve()):
            trash = target.parent / f".{target.name}.removed"
            shutil.rmtree(trash, ignore_errors=True)
            with suppress(FileNotFoundError):  # `validate --clean` may have taken the unlisted directory
                os.replace(target, trash)
            shutil.rmtree(trash, ignore_errors=True)
        log.info("removed expert %s", name)
        return entry

    def update_expert(self, name: str, **changes: Any) -> ExpertEntry:
        """Change recorded fields of an expert (e.g. its hub location after a push)."""
        with self.transaction() as manifest:
            entry = manifest.expert(name)
            if entry is None:
                raise NotFoundError(f"no expert {name!r} in {self.manifest_path}")
            for key, value in changes.items():
                setattr(entry, key, value)
            entry.updated_at = utcnow()
        return entry

    def set_router(self, entry: RouterEntry | None) -> None:
        with self.transaction() as manifest:
            manifest.router = entry

    # -- checking -----------------------------------------------------------------------------------
    def validate(self) -> list[Problem]:
        """Every listed file exists, checksums match, configs agree with the manifest."""
        manifest = self.load()
        problems: list[Problem] = []
        for entry in manifest.experts:
            problems.extend(self._validate_expert(entry, manifest.base))
        if manifest.router is not None:
            problems.extend(self._validate_router(manifest.router, manifest))
        return problems

    def leftovers(self) -> list[Leftover]:
        """What crashes left in ``experts/`` and ``routers/``: hidden staging, replaced and removed
        directories, and directories no entry lists. ``validate`` does not count them as problems."""
        import time

        manifest = self.load()
        listed = {(self.root / e.path).resolve() for e in manifest.experts}
        if manifest.router is not None:
            listed.add((self.root / manifest.router.path).resolve())
        now = time.time()
        found: list[Leftover] = []
        for parent in (self.root / "experts", self.root / "routers"):
            if not parent.is_dir():
                continue
            for child in sorted(parent.iterdir()):
                if not child.is_dir() or child.is_symlink():
                    continue
                if child.name.startswith("."):
                    kind = next(
                        (k for suffix, k in _HIDDEN_KINDS.items() if child.name.endswith(suffix)), None
                    )
                else:
                    kind = None if child.resolve() in listed else "unlisted"
                if kind is not None:
                    size = sum(
                        f.stat().st_size for f in child.rglob("*") if f.is_file() and not f.is_symlink()
                    )
                    found.append(Leftover(child, kind, size, max(0.0, now - child.stat().st_mtime)))
        return found

    def clean(self, min_age_s: float = LEFTOVER_MIN_AGE_S) -> list[Leftover]:
        """Delete leftovers at least ``min_age_s`` old, under the registry lock; returns what went.

        Younger ones are kept: another process may be staging an adapter right now, outside the lock.
        """
        removed = []
        with self.lock():
            for item in self.leftovers():
                if item.age_s >= min_age_s:
                    shutil.rmtree(item.path, ignore_errors=True)
                    removed.append(item)
                    log.info("removed leftover %s", item)
        return removed

    def _validate_expert(self, entry: ExpertEntry, base: BaseModelRef) -> list[Problem]:
        subject = f"expert {entry.name}"
        directory = self.expert_dir(entry)
        if not directory.is_dir():
            return [Problem(subject, f"directory {directory} is missing")]
        missing = [name for name in ADAPTER_FILES if not (directory / name).is_file()]
        if missing:
            return [Problem(subject, f"{directory} lacks {', '.join(missing)}")]
        problems: list[Problem] = []
        try:
            info = read_adapter(directory)
        except MoleError as exc:
            return [Problem(subject, str(exc))]
        if entry.sha256 is None:
            problems.append(Problem(subject, "no sha256 recorded"))
        else:
            actual = sha256_file(directory / "adapter_model.safetensors")
            if actual != entry.sha256:
                problems.append(
                    Problem(subject, f"checksum mismatch: manifest {entry.sha256[:12]}…, file {actual[:12]}…")
                )
        if info.rank != entry.rank:
            problems.append(
                Problem(subject, f"rank {entry.rank} in manifest, r={info.rank} in {CONFIG_NAME}")
            )
        if info.alpha != entry.alpha:
            problems.append(
                Problem(subject, f"alpha {entry.alpha:g} in manifest, {info.alpha:g} in {CONFIG_NAME}")
            )
        if sorted(info.target_modules) != sorted(entry.target_modules):
            problems.append(Problem(subject, f"target modules differ from {CONFIG_NAME}"))
        if not same_base(entry.base_model, base):
            problems.append(
                Problem(subject, f"made for base {entry.base_model!r}, registry base is {base.id!r}")
            )
        return problems

    def _validate_router(self, entry: RouterEntry, manifest: Manifest) -> list[Problem]:
        subject = f"router {entry.name}"
        problems: list[Problem] = []
        directory = self.router_dir(entry)
        if not directory.is_dir():
            return [Problem(subject, f"directory {directory} is missing")]
        weights = directory / "model.safetensors"
        if entry.sha256 is not None:
            if not weights.is_file():
                problems.append(Problem(subject, f"{weights} is missing"))
            elif sha256_file(weights) != entry.sha256:
                problems.append(Problem(subject, "checksum mismatch on model.safetensors"))
        unknown = [label for label in entry.labels if manifest.expert(label) is None]
        if unknown:
            problems.append(
                Problem(subject, f"routes to unregistered expert(s): {', '.join(unknown)} (retrain it)")
            )
        return problems


def _write_card(directory: Path, entry: ExpertEntry) -> None:
    """MoLE's model card as the expert folder's README.md (not PEFT's template): what `mole push`
    uploads, so publishing the folder with any Hub tool gives a proper card."""
    from .hub.cards import CARD_NAME, expert_card

    (directory / CARD_NAME).write_text(expert_card(entry), encoding="utf-8")
