"""The registry directory: ``mole.toml`` plus the adapters and router it records.

The registry is the only writer of the manifest. Every change runs under an exclusive file lock and
ends in an atomic rename, so concurrent ``mole`` processes never lose an entry and a crash leaves the
old manifest or the new one. Adapter directories are staged next to their final place and renamed in
before the manifest names them; a crash in between leaves an unlisted directory, never a listed
entry without files. A replacement goes into a directory of its own (``experts/NAME@VERSION``), so the
manifest commit is the single switch from the old files to the new ones; the old directory is removed
only after it.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from . import atomic, leftovers
from .errors import MoleError, NotFoundError, RegistryBusyError
from .intake import NewExpert, check_new_names, stage_expert
from .leftovers import LEFTOVER_MIN_AGE_S, Leftover
from .manifest import (
    EXPERTS_DIR,
    MANIFEST_NAME,
    BaseModelRef,
    ExpertEntry,
    HubLocation,
    Manifest,
    RouterEntry,
    TrainingRecord,
    entry_path,
    utcnow,
)
from .progress import Progress, report
from .validation import Problem

log = logging.getLogger(__name__)

LOCK_NAME = ".mole.lock"
LOCK_TIMEOUT = float(os.environ.get("MOLE_LOCK_TIMEOUT", "120"))
"""Seconds a write waits for another process's lock (``MOLE_LOCK_TIMEOUT``, see docs/configuration.md)."""


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
            return self.entry_dir(entry_or_name.path)
        return self.root / EXPERTS_DIR / entry_or_name

    def router_dir(self, entry: RouterEntry) -> Path:
        return self.entry_dir(entry.path)

    def entry_dir(self, rel: str) -> Path:
        """``root/rel``, refused when a symbolic link would take it outside the registry.

        The manifest already confines ``rel`` to ``experts/NAME`` or ``routers/KIND`` (see
        :func:`mole_core.manifest.check_entry_path`); this catches links planted on disk."""
        path = self.root / rel
        for part in (path.parent, path):
            if part.is_symlink():
                raise MoleError(
                    f"{part} is a symbolic link: registry entries must be real directories inside {self.root}"
                )
        return path

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
        except Timeout as exc:
            raise RegistryBusyError(f"registry {self.root} is locked by another process") from exc
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
            self.write(manifest)

    def write(self, manifest: Manifest) -> None:
        """Re-validate and atomically write ``manifest``; only under :meth:`lock`, with a manifest loaded there."""
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
                raise MoleError(f"invalid base model settings: {exc}") from exc
            registry.write(manifest)
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
                retired = self._commit(staged, replace)
        except BaseException:
            for directory, _ in staged:
                shutil.rmtree(directory, ignore_errors=True)
            with suppress(OSError):  # leave no empty experts/ behind a refused first adapter
                (self.root / "experts").rmdir()
            raise
        for path in retired:
            atomic.delete(path)
        for _, entry in staged:
            log.debug("registered expert %s (r=%d)", entry.name, entry.rank)
        log.info(
            "registered %d expert(s): %s",
            len(staged),
            ", ".join(e.name for _, e in staged[:5]) + ("..." if len(staged) > 5 else ""),
        )
        return [entry for _, entry in staged]

    def _commit(self, staged: list[tuple[Path, ExpertEntry]], replace: bool) -> list[Path]:
        """Under the lock: move each staged directory into a directory of its own, switch the manifest to
        them in one write, then retire the replaced versions' directories (returned, for deleting after
        the lock is released). A failure before the write takes back every directory moved in."""
        manifest = self.load()
        check_new_names([entry.name for _, entry in staged], manifest, replace)
        index = {e.name: i for i, e in enumerate(manifest.experts)}
        published: list[Path] = []
        replaced: list[str] = []
        try:
            for directory, entry in staged:
                old = manifest.experts[index[entry.name]] if entry.name in index else None
                entry.path = self.install_dir(directory, EXPERTS_DIR, entry.name, old.path if old else None)
                published.append(self.root / entry.path)
                if old is not None:
                    entry.created_at = old.created_at
                    manifest.experts[index[entry.name]] = entry
                    replaced.append(old.path)
                else:
                    manifest.experts.append(entry)
            self.write(manifest)  # the switch: from here on the new directories are the experts
        except BaseException:
            for target in published:
                atomic.delete(atomic.retire(target))
            raise
        return [path for rel in replaced if (path := atomic.retire(self.root / rel)) is not None]

    def install_dir(self, staged: Path, parent: str, name: str, current: str | None) -> str:
        """Rename a fully written ``staged`` directory to where entry ``name`` will live; returns that
        registry-relative path. Call it under :meth:`lock`, before the manifest commit that switches to it.

        ``current`` (the directory the manifest lists now) is never touched: the new one is
        ``PARENT/NAME`` when that is free, else ``PARENT/NAME@VERSION``. Whatever unlisted directory sits
        at the chosen place is a crash's leftover (under the lock nothing else is mid-publish) and goes."""
        rel = entry_path(parent, name)
        if rel == current:
            rel = entry_path(parent, name, uuid.uuid4().hex[:12])
        target = self.root / rel
        if target.parent.is_symlink():
            raise MoleError(
                f"{target.parent} is a symbolic link: registry entries must live inside {self.root}"
            )
        atomic.fsync_tree(staged)
        atomic.delete(atomic.retire(target))
        os.replace(staged, target)
        atomic.fsync_dir(target.parent)
        return rel

    def remove_expert(self, name: str) -> ExpertEntry:
        """Drop an expert from the manifest, then delete its directory (and nothing else).

        Both happen under the lock: the directory is renamed aside before the lock is released, so an
        ``add-expert`` of the same name that follows can never have its new files deleted. A trained
        router that could choose the removed expert goes with it (it cannot route without it): queries
        then go to the single expert left, or are routed by the experts' example queries, until
        ``mole train-router`` trains a new one."""
        with self.lock():
            manifest = self.load()
            entry = manifest.expert(name)
            if entry is None:
                raise NotFoundError(f"no expert {name!r} in {self.manifest_path}")
            target = self.root / entry.path  # confined to experts/NAME[@VERSION] by the manifest
            if target.parent.is_symlink():
                raise MoleError(f"{target.parent} is a symbolic link: refusing to delete through it")
            manifest.experts = [e for e in manifest.experts if e.name != name]
            router = manifest.router if manifest.router and name in manifest.router.labels else None
            if router is not None:
                manifest.router = None
            self.write(manifest)
            retired = [atomic.retire(target)]  # a link is renamed, never followed
            if router is not None and not (self.root / router.path).parent.is_symlink():
                retired.append(atomic.retire(self.root / router.path))
        for path in retired:
            atomic.delete(path)
        if router is not None:
            left = manifest.names()
            fallback = (
                "nothing is left to route to"
                if not left
                else f"every query now goes to {left[0]}"
                if len(left) == 1
                else "queries are now routed by the experts' example queries; `mole train-router` trains a new router"
            )
            log.warning("removed the %s router too, since it routed to %s: %s", router.name, name, fallback)
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
        """Every listed file exists, checksums match, configs agree with the manifest (see
        :mod:`mole_core.validation`)."""
        from .validation import validate_registry

        return validate_registry(self)

    def leftovers(self) -> list[Leftover]:
        """What crashes left behind (see :mod:`mole_core.leftovers`); ``validate`` does not count them
        as problems, since none is ever listed."""
        manifest = self.load()
        listed = [e.path for e in manifest.experts] + ([manifest.router.path] if manifest.router else [])
        return leftovers.find(self.root, listed)

    def clean(self, min_age_s: float = LEFTOVER_MIN_AGE_S) -> list[Leftover]:
        """Delete leftovers at least ``min_age_s`` old, under the registry lock; returns what went.

        Younger ones are kept: another process may be staging an adapter right now, outside the lock.
        Nothing the manifest lists is ever a leftover, so nothing it needs can go."""
        removed = []
        with self.lock():
            for item in self.leftovers():
                if item.age_s >= min_age_s:
                    atomic.delete(item.path)
                    removed.append(item)
                    log.info("removed leftover %s", item)
        return removed
