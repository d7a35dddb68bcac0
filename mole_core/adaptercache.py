"""Which experts' adapters are attached: at most N, least recently used evicted, in-use ones pinned.

A registry of a thousand experts cannot keep a thousand adapters attached (memory, start-up time), and
need not: a batch uses a handful. :class:`AdapterCache` is the bookkeeping of the runtime's paging
(S-LoRA, LoRAX and vLLM's ``--max-loras`` do the same): it knows what is loaded, in which order it was
last used, and what a running batch has pinned. Loading and unloading are callbacks, so the policy is
tested without a model and the runtime owns the PEFT calls.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable

from pydantic import BaseModel

from .errors import CacheFullError, MoleError

__all__ = [
    "ALL",
    "DEFAULT_MAX_LOADED",
    "ENV",
    "AdapterCache",
    "CacheFullError",
    "CacheStats",
    "resolve_capacity",
]

log = logging.getLogger(__name__)

ENV = "MOLE_MAX_LOADED_EXPERTS"
#: A registry of up to this many experts attaches them all at start (as before the cache existed); a
#: larger one keeps this many. Generation's default batch is 16 rows, so 32 holds two batches' worth of
#: distinct experts; SmolLM2-135M adapters of r=8..64 on all 7 projections are 10-78 MB each.
DEFAULT_MAX_LOADED = 32
ALL = "all"


class CacheStats(BaseModel):
    """What the cache did since start: hits, loads (misses), evictions; what is loaded now."""

    capacity: int | None
    loaded: list[str]
    pinned: list[str]
    hits: int = 0
    loads: int = 0
    evictions: int = 0
    failed_loads: int = 0


def resolve_capacity(requested: int | str | None) -> int | None:
    """The cache size: ``requested`` (an int >= 1, or ``"all"`` for no bound), else ``$MOLE_MAX_LOADED_EXPERTS``,
    else :data:`DEFAULT_MAX_LOADED`. ``None`` means unbounded."""
    source = "max_loaded_experts"
    if requested is None:
        requested, source = os.environ.get(ENV) or DEFAULT_MAX_LOADED, ENV
    if isinstance(requested, str):
        text = requested.strip().lower()
        if text == ALL:
            return None
        try:
            requested = int(text)
        except ValueError as exc:
            raise MoleError(f"{source} must be a positive integer or 'all', got {requested!r}") from exc
    if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
        raise MoleError(f"{source} must be a positive integer or 'all', got {requested!r}")
    return requested


class AdapterCache:
    """At most ``capacity`` names loaded (None: no bound); LRU eviction among the unpinned.

    ``load(name)`` attaches an adapter (raising leaves nothing attached); ``unload(name)`` detaches it.
    :meth:`acquire` loads and pins what a batch needs, :meth:`release` unpins it. Thread-safe: one lock
    serialises loads, evictions and pin counts.
    """

    def __init__(
        self,
        capacity: int | None,
        load: Callable[[str], None],
        unload: Callable[[str], None],
    ) -> None:
        if capacity is not None and capacity < 1:
            raise MoleError(f"the adapter cache needs room for at least one expert, got {capacity}")
        self.capacity = capacity
        self._load = load
        self._unload = unload
        self._lru: OrderedDict[str, None] = OrderedDict()  # least recently used first
        self._pins: Counter[str] = Counter()
        self._lock = threading.RLock()
        self.stats = CacheStats(capacity=capacity, loaded=[], pinned=[])

    # -- inspection ---------------------------------------------------------------------------------
    @property
    def loaded(self) -> list[str]:
        """Loaded names, least recently used first."""
        with self._lock:
            return list(self._lru)

    def __contains__(self, name: object) -> bool:
        return name in self._lru

    def pinned(self) -> list[str]:
        with self._lock:
            return sorted(n for n, c in self._pins.items() if c > 0)

    def fits(self, names: Iterable[str]) -> bool:
        """Whether :meth:`acquire` of ``names`` would succeed now, given what running batches pin."""
        if self.capacity is None:
            return True
        with self._lock:
            return len(set(names) | set(self.pinned())) <= self.capacity

    def snapshot(self) -> CacheStats:
        with self._lock:
            return self.stats.model_copy(update={"loaded": list(self._lru), "pinned": self.pinned()})

    # -- use ----------------------------------------------------------------------------------------
    def mark_loaded(self, name: str) -> None:
        """Record an adapter attached outside :meth:`acquire` (e.g. at start-up) as most recently used."""
        with self._lock:
            self._lru[name] = None
            self._lru.move_to_end(name)

    def acquire(self, names: Iterable[str]) -> list[str]:
        """Load what is missing (evicting the least recently used unpinned names to make room) and pin
        all of ``names``; returns the names loaded now. Raises :class:`CacheFullError` when ``names``
        cannot be loaded together (more than ``capacity``, or the rest of the room pinned by others);
        a failing load releases this call's pins and re-raises, leaving the others loaded."""
        wanted = list(dict.fromkeys(names))
        with self._lock:
            if self.capacity is not None and len(wanted) > self.capacity:
                raise CacheFullError(
                    f"{len(wanted)} distinct experts are needed at once, but at most {self.capacity} may be "
                    f"loaded (max_loaded_experts / {ENV}); run fewer experts per batch or raise the limit"
                )
            if not self.fits(wanted):
                raise CacheFullError(
                    f"the {self.capacity} loadable experts are all in use by running batches; "
                    f"retry when one finishes, or raise max_loaded_experts"
                )
            pinned: list[str] = []
            loaded_now: list[str] = []
            try:
                for name in wanted:
                    if name in self._lru:
                        self.stats.hits += 1
                    else:
                        self._load_one(name, keep=set(wanted))
                        loaded_now.append(name)
                    self._lru.move_to_end(name)
                    self._pins[name] += 1
                    pinned.append(name)
            except BaseException:
                self._unpin(pinned)
                raise
            return loaded_now

    def release(self, names: Iterable[str]) -> None:
        """Unpin ``names`` (once per :meth:`acquire` that pinned them); they stay loaded until evicted."""
        with self._lock:
            self._unpin(list(dict.fromkeys(names)))

    def resize(self, capacity: int | None) -> None:
        """A new bound (None: none); what exceeds it is evicted now, least recently used and unpinned
        first (pinned adapters go when their batches release them and the next load makes room)."""
        if capacity is not None and capacity < 1:
            raise MoleError(f"the adapter cache needs room for at least one expert, got {capacity}")
        with self._lock:
            self.capacity = self.stats.capacity = capacity
            while capacity is not None and len(self._lru) > max(capacity, 1):
                victims = [n for n in self._lru if not self._pins[n]]
                if not victims:
                    break
                self._evict(victims[0])

    def discard(self, name: str) -> None:
        """Unload ``name`` now if loaded and unpinned (e.g. its expert was removed)."""
        with self._lock:
            if name in self._lru and not self._pins[name]:
                self._evict(name)

    # -- internals ----------------------------------------------------------------------------------
    def _unpin(self, names: list[str]) -> None:
        for name in names:
            self._pins[name] -= 1
            if self._pins[name] <= 0:
                del self._pins[name]

    def _load_one(self, name: str, keep: set[str]) -> None:
        # Make room first, so the bound holds while loading; but never unload the last adapter before the
        # next is in (PEFT cannot run with none attached), which matters only for a capacity of 1.
        while self.capacity is not None and len(self._lru) >= self.capacity and len(self._lru) > 1:
            self._evict(self._victim(keep))
        try:
            self._load(name)
        except BaseException:
            self.stats.failed_loads += 1
            raise
        self.stats.loads += 1
        self._lru[name] = None
        if self.capacity is not None and len(self._lru) > self.capacity:
            self._evict(self._victim(keep))

    def _victim(self, keep: set[str]) -> str:
        for name in self._lru:
            if not self._pins[name] and name not in keep:
                return name
        raise CacheFullError("every loaded expert is in use by a running batch")  # guarded by fits()

    def _evict(self, name: str) -> None:
        self._unload(name)
        del self._lru[name]
        self.stats.evictions += 1
        log.debug("evicted adapter %s", name)
