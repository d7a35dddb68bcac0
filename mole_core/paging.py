"""The runtime's adapter paging: which experts' adapters are attached, pinned while a batch runs.

:class:`AdapterPaging` is mixed into :class:`~mole_core.runtime.MoLE`; it holds the public calls a caller
or a serving engine makes per batch (:meth:`~AdapterPaging.use`, :meth:`~AdapterPaging.ensure_loaded`,
:meth:`~AdapterPaging.pin`) and the two callbacks the :class:`~mole_core.adaptercache.AdapterCache`
drives: attach (sha256-verified, one read) and detach (PEFT's ``delete_adapter``, plus the fast path's
stacked copies of that adapter).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .attach import attach_adapter, detach_adapter
from .errors import NotFoundError

if TYPE_CHECKING:
    from .adaptercache import AdapterCache
    from .manifest import ExpertEntry
    from .registry import Registry


class AdapterPaging:
    """Adapter paging for the runtime; expects ``model``, ``registry``, ``cache``, ``_entries``, ``_mixed``."""

    model: Any
    registry: Registry
    cache: AdapterCache
    _entries: dict[str, ExpertEntry]
    _mixed: Any

    @property
    def max_loaded_experts(self) -> int | None:
        """How many adapters may be attached at once (None: no bound)."""
        return self.cache.capacity

    # -- use --------------------------------------------------------------------------
    @contextmanager
    def use(self, names: Sequence[str]) -> Iterator[None]:
        """Inside, the adapters of ``names`` are attached and pinned: no other batch evicts them.

        Loads (sha256-verified) what is missing, evicting the least recently used unpinned adapters.
        More distinct names than ``max_loaded_experts`` raise :class:`~mole_core.adaptercache.CacheFullError`;
        so does a cache whose other slots are all pinned by running batches. A serving engine wraps
        each step in this (or pins a request's expert for its lifetime with :meth:`pin`).
        """
        wanted = self._known(names)
        self.cache.acquire(wanted)
        try:
            yield
        finally:
            self.cache.release(wanted)

    def ensure_loaded(self, names: Sequence[str]) -> list[str]:
        """Attach ``names`` now (marking them recently used) without pinning; returns those loaded now."""
        wanted = self._known(names)
        loaded = self.cache.acquire(wanted)
        self.cache.release(wanted)
        return loaded

    def pin(self, names: Sequence[str]) -> None:
        """Load and pin ``names`` until :meth:`unpin`: for a request that spans many engine steps."""
        self.cache.acquire(self._known(names))

    def unpin(self, names: Sequence[str]) -> None:
        self.cache.release(self._known(names))

    def _known(self, names: Sequence[str]) -> list[str]:
        out = list(dict.fromkeys(names))
        unknown = [n for n in out if n not in self._entries]
        if unknown:
            raise NotFoundError(f"no expert {unknown[0]!r} (registered: {len(self._entries)} experts)")
        return out

    def _load(self, name: str) -> None:
        from peft import PeftModel

        was_peft = isinstance(self.model, PeftModel)
        self.model = attach_adapter(self.model, self.registry, self._entries[name])
        if not was_peft:  # the first adapter turned the base model into a PeftModel
            self._mixed = make_mixed(self.model)
        elif self._mixed is not None:
            self._mixed.forget([name])

    def _unload(self, name: str) -> None:
        detach_adapter(self.model, name)
        if self._mixed is not None:
            self._mixed.forget([name])  # its stacked copies go with it

    def _sub_batches(self, per_row: Sequence[str | None]) -> list[list[int]]:
        """Row indices per sub-batch, each needing at most ``max_loaded_experts`` distinct experts;
        experts already attached go first, so they run before anything evicts them."""
        capacity = self.cache.capacity
        experts = list(dict.fromkeys(n for n in per_row if n in self._entries))
        if capacity is None or len(experts) <= capacity:
            return [list(range(len(per_row)))]
        experts.sort(key=lambda n: n not in self.cache)
        group = {name: i // capacity for i, name in enumerate(experts)}
        out: list[list[int]] = [[] for _ in range(-(-len(experts) // capacity))]
        for i, name in enumerate(per_row):
            out[group.get(name, 0)].append(i)  # base rows and blends ride with the first
        return out


def make_mixed(model: Any) -> Any:
    """The stacked mixed-adapter fast path, when available for this model; else PEFT's own path."""
    if os.environ.get("MOLE_FAST_LORA", "1") == "0":
        return None
    try:
        from peft import PeftModel

        from .fastlora import MixedLoRA
    except ImportError:
        return None
    return MixedLoRA(model) if isinstance(model, PeftModel) else None
