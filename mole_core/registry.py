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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from . import atomic
from .adapters import (
    ADAPTER_FILES,
    CONFIG_NAME,
    read_adapter,
    sha256_file,
)
from .basemodel import same_base
from .errors import MoleError, NotFoundError, RegistryBusyError
from .intake import NewExpert, check_new_names, stage_expert
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
from .progress import Progress, report

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
        item = NewExpert(
            name=name,
            adapter=adapter,
            task=task,
            rank=rank,
            alpha=alpha,
            plugin=plugin,
            examples=examples,
            prompt_template=prompt_template,
            hub=hub,
            training=training,
            expected_sha256=expected_sha256,
            allow_pickle=allow_pickle,
            allow_base_mismatch=allow_base_mismatch,
        )
        return self.add_experts([item], replace=replace, base_config=base_config)[0]

    def add_experts(
        self,
        items: Iterable[NewExpert],
        *,
        replace: bool = False,
        base_config: dict[str, Any] | None = None,
        progress: Progress | None = None,
    ) -> list[ExpertEntry]:
        """Register several adapters at once, all or none: every adapter is checked and staged first
        (outside the lock), then one lock and one manifest write record them all. A thousand adapters
        cost one manifest rewrite, not a thousand growing ones. ``progress("staging", done, total)``."""
        items = list(items)
        manifest = self.load()
        check_new_names([item.name for item in items], manifest, replace)
        if base_config is None:
            from .basemodel import local_config

            base_config = local_config(manifest.base) or {}  # read once, not once per adapter
        staged: list[tuple[Path, ExpertEntry]] = []
        try:
            for done, item in enumerate(items, 1):
                staged.append(stage_expert(self.root, item, manifest.base, base_config))
                report(progress, "staging", done, len(items))
            with self.lock():
                self._commit(staged, replace)
        except BaseException:
            for directory, _ in staged:
                shutil.rmtree(directory, ignore_errors=True)
            with suppress(OSError):  # leave no empty experts/ behind a refused first adapter
                (self.root / "experts").rmdir()
            raise
        for _, entry in staged:
            log.info("registered expert %s (r=%d)", entry.name, entry.rank)
        return [entry for _, entry in staged]

    def _commit(self, staged: list[tuple[Path, ExpertEntry]], replace: bool) -> None:
        """Under the lock: rename the staged directories in and write the manifest once. A failure before
        the write takes back the directories of new names (a replaced one was already swapped)."""
        manifest = self.load()
        check_new_names([entry.name for _, entry in staged], manifest, replace)
        index = {e.name: i for i, e in enumerate(manifest.experts)}
        published: list[Path] = []
        try:
            for directory, entry in staged:
                target = self.expert_dir(entry.name)
                atomic.publish_dir(directory, target)
                if entry.name in index:
                    old = manifest.experts[index[entry.name]]
                    entry.created_at = old.created_at
                    manifest.experts[index[entry.name]] = entry
                else:
                    published.append(target)
                    manifest.experts.append(entry)
            self._write(manifest)
        except BaseException:
            for target in published:
                shutil.rmtree(target, ignore_errors=True)
            raise

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
