"""Fast mixed-adapter LoRA inference: one batch, one LoRA expert per row.

PEFT's per-row ``adapter_names`` path loops over adapters in Python inside every targeted layer and
gathers/scatters sub-batches; on CPU that costs about half the throughput of the bare base model.
:class:`MixedLoRA` instead stacks, per targeted ``peft.tuners.lora.Linear``, the A matrices of all
adapters into one ``[sum_r, d_in]`` matrix and the B matrices into one ``[sum_r, d_out]`` matrix. A
decode step then costs one product with the A stack, a per-row mask (zero outside the row's own
adapter, the adapter's scale inside it) and one in-place ``addmm_`` with the B stack, with no loop
over adapters. Multi-token forwards (prefill) are compute-bound, so there every adapter's rows pay
only their own rank (a short loop over the adapters present). A batch whose rows all use one adapter
runs on base weights with that adapter merged in; the original weight tensors are kept and swapped
back, so the base comes back bit-identical (no subtraction, no drift).

Layers this module cannot handle exactly (DoRA and other LoRA variants, ``lora_bias``, Embedding and
Conv LoRA layers, quantized or already hooked layers) keep PEFT's own per-row computation (its
``_mixed_batch_forward``, which runs each adapter's rows through that adapter's code, DoRA included),
so outputs are never silently wrong. Inference only: training mode is refused.

Usage::

    mixed = MixedLoRA(peft_model)
    with mixed.rows(["math", "code", None, "math"]):   # None: the bare base model for that row
        out = peft_model.generate(**batch, max_new_tokens=32)

Rows are the first dimension of every layer input (batch-first, as PEFT's per-row path assumes too).
Sorting the rows by adapter lets prefill slice instead of gather (a few percent of prefill time).
Not thread-safe: the contexts patch the model's LoRA layers in place while they are open.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from peft.tuners.lora import Linear as LoraLinear
from peft.tuners.lora.layer import LoraLayer
from torch import nn

__all__ = ["BASE_ROW", "MixedLoRA"]

logger = logging.getLogger(__name__)

#: PEFT's name for "no adapter" in ``adapter_names``; ``None`` rows are translated to it.
BASE_ROW = "__base__"

_Forward = Callable[..., torch.Tensor]


# --------------------------------------------------------------------------------------------------
# Per-layer stacked weights
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stack:
    """The batch's adapters in one layer side by side, in ``lora_A`` order. Only adapters that some
    row uses are stacked: with dozens of experts attached, every row would otherwise pay all ranks.

    ``a`` is ``[sum_r, d_in]`` (rows of adapter i at ``spans[i]``) and ``bt`` is ``[sum_r, d_out]``,
    the transposed B stack, contiguous so that ``addmm_`` reads it row-major without a copy.
    """

    names: tuple[str, ...]
    spans: dict[str, tuple[int, int]]
    scales: dict[str, float]
    a: torch.Tensor
    bt: torch.Tensor
    signature: tuple
    #: Everything a row mask depends on; layers with equal layouts share masks.
    layout: tuple


def _layer_signature(layer: LoraLinear, names: tuple[str, ...]) -> tuple:
    """What a stack of ``names`` was built from; any change (adapter reloaded, weights edited in
    place through their parameters, scale changed, model moved) changes it and forces a rebuild.
    Reads the module dicts directly: this runs for every layer on every context entry."""
    a_mods, b_mods, scaling = layer.lora_A._modules, layer.lora_B._modules, layer.scaling
    sig = []
    for name in names:
        a = a_mods[name]._parameters["weight"]
        b = b_mods[name]._parameters["weight"]
        sig.append((name, scaling[name], a.data_ptr(), a._version, b.data_ptr(), b._version))
    return tuple(sig)


def _compute_dtype(layer: LoraLinear) -> torch.dtype | None:
    """The base layer's floating dtype. PEFT keeps adapters in fp32 on a bf16/fp16 base (for training);
    stacking them in the base's dtype saves a cast of every input and output per layer and decode step,
    which on a GPU is a third of the fast path's kernels. fp32 bases are unaffected."""
    weight = getattr(layer.get_base_layer(), "weight", None)
    if isinstance(weight, torch.Tensor) and weight.dtype.is_floating_point:
        return weight.dtype
    return None


def _build_stack(layer: LoraLinear, names: tuple[str, ...], signature: tuple) -> _Stack:
    a_parts, bt_parts, spans, scales = [], [], {}, {}
    start = 0
    dtype = _compute_dtype(layer)
    for name in names:
        a = layer.lora_A[name].weight.detach()
        b = layer.lora_B[name].weight.detach()
        if dtype is not None and a.dtype != dtype:
            a, b = a.to(dtype), b.to(dtype)
        a_parts.append(a)
        bt_parts.append(b.t())
        spans[name] = (start, start + a.shape[0])
        scales[name] = float(layer.scaling[name])
        start += a.shape[0]
    a_stack = torch.cat(a_parts).contiguous()
    bt_stack = torch.cat(bt_parts).contiguous()
    layout = (tuple((n, *spans[n], scales[n]) for n in names), a_stack.dtype, a_stack.device)
    return _Stack(names, spans, scales, a_stack, bt_stack, signature, layout)


# --------------------------------------------------------------------------------------------------
# Layer classification
# --------------------------------------------------------------------------------------------------


def _fast_path_blocker(layer: LoraLayer) -> str | None:
    """Why ``layer`` cannot use the stacked path (None if it can); such layers keep PEFT's path."""
    if type(layer) is not LoraLinear:
        return f"layer type {type(layer).__name__}"
    if "forward" in vars(layer):
        return "forward already wrapped by someone else"
    if layer.lora_variant:
        return f"LoRA variant(s) {sorted(layer.lora_variant)} (e.g. DoRA)"
    if any(layer.use_dora.get(n, False) for n in layer.lora_A):
        return "DoRA"
    if any(layer.lora_bias.get(n, False) for n in layer.lora_A):
        return "lora_bias"
    if layer.lora_embedding_A:
        return "embedding LoRA weights"
    if layer.merged:
        return "adapters merged by PEFT"
    return None


def _mergeable(layer: LoraLayer, name: str) -> bool:
    """True if ``name`` can be merged into this layer's base weight by a plain tensor swap."""
    if _fast_path_blocker(layer) is not None or name not in layer.lora_A:
        return False
    weight = getattr(layer.get_base_layer(), "weight", None)
    return type(weight) is nn.Parameter and weight.dtype.is_floating_point


def _base_call(layer: LoraLayer) -> _Forward:
    """The base layer's forward, calling ``F.linear`` directly when that is exactly equivalent (a
    plain ``nn.Linear`` without hooks) to skip module-call overhead on every decode step."""
    base = layer.get_base_layer()
    plain = (
        type(base) is nn.Linear
        and not base._forward_hooks
        and not base._forward_pre_hooks
        and not getattr(nn.modules.module, "_global_forward_hooks", True)
        and not getattr(nn.modules.module, "_global_forward_pre_hooks", True)
    )
    if not plain:
        return base
    weight, bias = base.weight, base.bias

    def linear(x: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        if args or kwargs:
            return base(x, *args, **kwargs)
        return F.linear(x, weight, bias)

    return linear


# --------------------------------------------------------------------------------------------------
# Row plan: which adapter each row uses, plus cached masks / groups for each batch size
# --------------------------------------------------------------------------------------------------


@dataclass
class _RowPlan:
    """Adapter per row; batch sizes that are a multiple of the row count (beam search,
    ``num_return_sequences``) are handled like ``generate`` expands inputs: ``repeat_interleave``."""

    rows: tuple[str | None, ...]
    _masks: dict[tuple, torch.Tensor] = field(default_factory=dict)
    _groups: dict[tuple, list] = field(default_factory=dict)
    #: All rows on one adapter: one group, so exact rank (no mask, no gather) even when decoding.
    uniform: bool = field(init=False)

    def __post_init__(self) -> None:
        self.uniform = len(set(self.rows)) == 1 and self.rows[0] is not None

    def expanded(self, batch: int) -> list[str | None]:
        n = len(self.rows)
        if batch == n:
            return list(self.rows)
        if batch % n:
            raise ValueError(f"batch of {batch} rows does not match the {n} rows given to MixedLoRA.rows()")
        k = batch // n
        return [name for name in self.rows for _ in range(k)]

    def mask(self, stack: _Stack, batch: int) -> torch.Tensor:
        """``[batch, 1, sum_r]``: the row's own adapter columns hold its scale, the rest zero."""
        key = (stack.layout, batch)
        mask = self._masks.get(key)
        if mask is None:
            total = stack.a.shape[0]
            values = [[0.0] * total for _ in range(batch)]
            for i, name in enumerate(self.expanded(batch)):
                if name in stack.spans:
                    s, e = stack.spans[name]
                    values[i][s:e] = [stack.scales[name]] * (e - s)
            mask = torch.tensor(values, dtype=stack.a.dtype, device=stack.a.device).unsqueeze(1)
            self._masks[key] = mask
        return mask

    def groups(
        self, stack: _Stack, batch: int, device: torch.device
    ) -> list[tuple[str, slice | torch.Tensor]]:
        """Rows per adapter of this layer: a slice when contiguous (no gather), else an index tensor."""
        key = (stack.names, batch, device)
        groups = self._groups.get(key)
        if groups is None:
            rows = self.expanded(batch)
            groups = []
            for name in stack.names:
                idx = [i for i, row in enumerate(rows) if row == name]
                if not idx:
                    continue
                if idx[-1] - idx[0] + 1 == len(idx):
                    groups.append((name, slice(idx[0], idx[-1] + 1)))
                else:
                    groups.append((name, torch.tensor(idx, device=device)))
            self._groups[key] = groups
        return groups

    def peft_names(self, batch: int) -> list[str]:
        return [BASE_ROW if name is None else name for name in self.expanded(batch)]


# --------------------------------------------------------------------------------------------------
# Patched forwards
# --------------------------------------------------------------------------------------------------


class _StackedForward:
    """Replacement ``forward`` of one LoRA Linear while a :meth:`MixedLoRA.rows` context is open."""

    __slots__ = ("base", "stack", "plan", "exact_rank_min_tokens", "_batch", "_mask")

    def __init__(self, base: _Forward, stack: _Stack, plan: _RowPlan, exact_rank_min_tokens: int) -> None:
        self.base = base
        self.stack = stack
        self.plan = plan
        self.exact_rank_min_tokens = exact_rank_min_tokens
        self._batch = -1  # the mask below is for this batch size (decode steps keep it)
        self._mask = stack.a

    def __call__(self, x: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        if "adapter_names" in kwargs:
            raise ValueError("do not pass adapter_names inside MixedLoRA.rows(); the rows are set there")
        result = self.base(x, *args, **kwargs)
        a = self.stack.a
        if x.dtype != a.dtype:
            x = x.to(a.dtype)
        batch = x.shape[0]
        tokens = x.numel() // x.shape[-1]
        if self.plan.uniform or (tokens > batch and tokens >= self.exact_rank_min_tokens):
            return self._exact_rank(x, result, batch)
        if batch != self._batch:
            self._mask = self.plan.mask(self.stack, batch)
            self._batch = batch
        h = F.linear(x, a)
        total = a.shape[0]
        h.view(batch, -1, total).mul_(self._mask)
        if result.dtype == h.dtype and result.is_contiguous():
            # decode: one A product over all adapters, the row mask, one B product added in place
            result.view(-1, result.shape[-1]).addmm_(h.view(-1, total), self.stack.bt)
            return result
        return result + torch.matmul(h, self.stack.bt).to(result.dtype)

    def _exact_rank(self, x: torch.Tensor, result: torch.Tensor, batch: int) -> torch.Tensor:
        """Prefill: each adapter's rows pay only its own rank (compute-bound, so FLOPs matter)."""
        stack = self.stack
        direct = result.dtype == x.dtype and result.is_contiguous()
        acc = result if direct else torch.zeros(result.shape, dtype=x.dtype, device=x.device)
        d_out = acc.shape[-1]
        for name, rows in self.plan.groups(stack, batch, x.device):
            s, e = stack.spans[name]
            a, bt, scale = stack.a[s:e], stack.bt[s:e], stack.scales[name]
            if isinstance(rows, slice):
                h = F.linear(x[rows], a)
                acc[rows].view(-1, d_out).addmm_(h.view(-1, e - s), bt, alpha=scale)
            else:
                delta = torch.matmul(F.linear(x.index_select(0, rows), a), bt)
                acc.index_add_(0, rows, delta, alpha=scale)
        return acc if direct else result + acc.to(result.dtype)


class _BaseOnlyForward:
    """Replacement ``forward`` for layers whose rows all run the (possibly merged) base weights."""

    __slots__ = ("base",)

    def __init__(self, base: _Forward) -> None:
        self.base = base

    def __call__(self, x: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        if "adapter_names" in kwargs:
            raise ValueError("do not pass adapter_names inside a MixedLoRA context; the rows are set there")
        return self.base(x, *args, **kwargs)


class _PeftRowsForward:
    """Replacement ``forward`` giving a LoRA layer PEFT's own per-row computation
    (``_mixed_batch_forward``: each adapter's rows through that adapter's code, variants such as DoRA
    included), without PEFT's argument check, which refuses DoRA for no reason that applies here:
    rows always match the batch, and merged or disabled adapters are refused on entry."""

    __slots__ = ("layer", "plan")

    def __init__(self, layer: LoraLayer, plan: _RowPlan) -> None:
        self.layer = layer
        self.plan = plan

    def __call__(self, x: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        if "adapter_names" in kwargs:
            raise ValueError("do not pass adapter_names inside MixedLoRA.rows(); the rows are set there")
        names = self.plan.peft_names(x.shape[0])
        return self.layer._mixed_batch_forward(x, *args, adapter_names=names, **kwargs)


def _fallback(layer: LoraLayer, plan: _RowPlan, forwards: dict, hooks: dict) -> None:
    """Route ``layer`` through PEFT's per-row code: a forward override when the layer's own forward is
    PEFT's (so DoRA works too), else a pre-hook that keeps someone else's forward wrapper in place."""
    if "forward" not in vars(layer) and hasattr(layer, "_mixed_batch_forward"):
        forwards[layer] = _PeftRowsForward(layer, plan)
    else:
        hooks[layer] = _peft_rows_hook(plan)


def _peft_rows_hook(plan: _RowPlan) -> Callable:
    """Forward pre-hook giving a layer PEFT's own per-row path (the fallback), like PEFT's
    ``_adapter_names_pre_forward_hook`` but expanding the names to the actual batch size."""

    def hook(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        if "adapter_names" in kwargs:
            raise ValueError("do not pass adapter_names inside MixedLoRA.rows(); the rows are set there")
        x = args[0] if args else kwargs["x"]
        kwargs["adapter_names"] = plan.peft_names(x.shape[0])
        return args, kwargs

    return hook


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


class MixedLoRA:
    """Run one batch with a (possibly different) LoRA adapter per row on a ``peft.PeftModel``.

    Stacks are built lazily per layer on entering :meth:`rows`, from the adapters the rows use, and
    rebuilt when those adapters change (added, deleted, reloaded, edited in place, rescaled);
    :meth:`invalidate` forces a rebuild. They hold copies of the adapter weights.

    Args:
        model: the PEFT model (or any module containing PEFT LoRA layers).
        exact_rank_min_tokens: forwards with at least this many tokens in total (and more than one per
            row, i.e. prefill) use per-adapter exact-rank products instead of the stacked product.
        merge_uniform: in :meth:`rows`, run batches whose rows all share one adapter through
            :meth:`merged` (worth it for generation; a single short forward may not repay the merge).
        cache_merged: keep the merged weights of the most recently merged adapter after its context
            ends, so the next batch for the same expert skips the merge (costs one extra copy of every
            targeted base weight; dropped when another adapter is merged or on :meth:`invalidate`).
        stack_cache_size: stacks kept per layer, one per distinct set of adapters in a batch (each
            about the size of those adapters); a new set costs one copy of its adapters' weights.
        stacked: False runs every layer through PEFT's own per-row code (no stacks, no merging):
            PEFT's ``adapter_names`` path, but for DoRA too, which PEFT refuses there.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        exact_rank_min_tokens: int = 64,
        merge_uniform: bool = True,
        cache_merged: bool = False,
        stack_cache_size: int = 4,
        stacked: bool = True,
    ) -> None:
        self.model = model
        self.stacked = stacked
        self.exact_rank_min_tokens = exact_rank_min_tokens
        self.merge_uniform = merge_uniform
        self.cache_merged = cache_merged
        #: layer -> (what the merged tensor was made from, the merged tensor)
        self._merged_cache: weakref.WeakKeyDictionary[LoraLinear, tuple[tuple, torch.Tensor]] = (
            weakref.WeakKeyDictionary()
        )
        self.stack_cache_size = stack_cache_size
        #: layer -> {adapter subset -> stack}, least recently used first
        self._stacks: weakref.WeakKeyDictionary[LoraLinear, OrderedDict[tuple[str, ...], _Stack]] = (
            weakref.WeakKeyDictionary()
        )
        self._active = False
        self._layers: list[LoraLayer] = []
        self._layers_key: tuple | None = None
        #: Number of per-layer stacks built so far (observability: rebuilds show up here).
        self.builds = 0
        self._warned: set[str] = set()

    # ---------------------------------------------------------------- bookkeeping

    def invalidate(self) -> None:
        """Forget stacks, cached merges and the layer list; the next context rebuilds them. Needed
        only after changes the automatic checks cannot see (edits through ``.data``, modules
        replaced by hand)."""
        self._stacks = weakref.WeakKeyDictionary()
        self._merged_cache = weakref.WeakKeyDictionary()
        self._layers_key = None

    def forget(self, names: Sequence[str]) -> None:
        """Drop the stacks and the cached merge that hold copies of adapters ``names`` (about to be
        deleted, or just reloaded), keeping every other stack: paging one adapter out does not cost the
        other batches a rebuild, and its copies are freed with it."""
        gone = set(names)
        for per_layer in list(self._stacks.values()):
            for key in [k for k in per_layer if gone.intersection(k)]:
                del per_layer[key]
        for layer, (key, _) in list(self._merged_cache.items()):
            if key[0] in gone:
                del self._merged_cache[layer]
        self._layers_key = None

    def lora_layers(self) -> list[LoraLayer]:
        """The model's LoRA layers. Walking every module costs tens of ms on a 30-layer model with
        several adapters, so the list is reused while ``peft_config`` (adapters and their targets)
        is unchanged; models without ``peft_config`` are walked every time."""
        key = _structure_key(self.model)
        if key is None or key != self._layers_key:
            self._layers = [m for m in self.model.modules() if isinstance(m, LoraLayer)]
            self._layers_key = key
        return self._layers

    def adapter_names(self) -> set[str]:
        """Every adapter known to at least one LoRA layer."""
        names: set[str] = set()
        for layer in self.lora_layers():
            names |= set(layer.lora_A.keys()) | set(layer.lora_embedding_A.keys())
        return names

    def _stack(self, layer: LoraLinear, active: set[str]) -> _Stack:
        """The stack of this batch's adapters in ``layer``, reused while nothing changed."""
        names = tuple(n for n in layer.lora_A if n in active)
        signature = _layer_signature(layer, names)
        per_layer = self._stacks.setdefault(layer, OrderedDict())
        stack = per_layer.get(names)
        if stack is None or stack.signature != signature:
            stack = _build_stack(layer, names, signature)
            self.builds += 1
        per_layer[names] = stack
        per_layer.move_to_end(names)
        while len(per_layer) > self.stack_cache_size:
            per_layer.popitem(last=False)
        return stack

    def _check_usable(self, layers: Sequence[LoraLayer], names: set[str]) -> None:
        if self._active:
            raise RuntimeError("MixedLoRA contexts do not nest")
        if self.model.training or any(layer.training for layer in layers):
            raise RuntimeError("MixedLoRA is for inference: call model.eval() first (dropout is not applied)")
        if any(layer.merged for layer in layers):
            raise RuntimeError("adapters are merged into the base weights by PEFT; unmerge them first")
        if any(layer.disable_adapters for layer in layers):
            raise RuntimeError(
                "adapters are disabled (inside disable_adapter()?); MixedLoRA would ignore that"
            )
        unknown = names - self.adapter_names()
        if unknown:
            raise ValueError(f"unknown adapter(s): {', '.join(sorted(map(repr, unknown)))}")

    def _note_fallback(self, layer: LoraLayer, reason: str) -> None:
        if reason not in self._warned:
            self._warned.add(reason)
            logger.info("MixedLoRA: using PEFT's per-row path for layers with %s", reason)
        logger.debug("MixedLoRA fallback for %r: %s", type(layer).__name__, reason)

    @contextlib.contextmanager
    def _patched(
        self, forwards: dict[nn.Module, _Forward], hooks: dict[nn.Module, Callable]
    ) -> Iterator[None]:
        """Install instance ``forward`` overrides and pre-hooks; always remove them on exit."""
        installed: list[nn.Module] = []
        handles = []
        self._active = True
        try:
            for module, fwd in forwards.items():
                module.forward = fwd
                installed.append(module)
            for module, hook in hooks.items():
                handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
            yield
        finally:
            for handle in handles:
                handle.remove()
            for module in installed:
                vars(module).pop("forward", None)
            self._active = False

    # ---------------------------------------------------------------- contexts

    @contextlib.contextmanager
    def rows(self, adapter_per_row: Sequence[str | None], *, merge: bool | None = None) -> Iterator[None]:
        """Inside, forwards and ``generate`` of the model use ``adapter_per_row[i]`` for batch row i.

        ``None`` (or ``"__base__"``) means the bare base model for that row. If every row names the
        same adapter and ``merge`` (default: ``merge_uniform``) is true, the adapter is merged into the
        base weights for the duration (see :meth:`merged`); if every row is base, LoRA is skipped.
        A batch that is k times as long as ``adapter_per_row`` (beam search, ``num_return_sequences``)
        repeats each entry k times in place, as ``generate`` expands its inputs.
        """
        rows = tuple(None if name == BASE_ROW else name for name in adapter_per_row)
        if not rows:
            raise ValueError("adapter_per_row is empty")
        active = set(rows) - {None}
        layers = self.lora_layers()
        self._check_usable(layers, active)
        merge = self.stacked and (self.merge_uniform if merge is None else merge)
        if len(active) == 1 and None not in rows and merge:
            with self.merged(rows[0]):
                yield
            return
        plan = _RowPlan(rows)
        forwards: dict[nn.Module, _Forward] = {}
        hooks: dict[nn.Module, Callable] = {}
        for layer in layers:
            reason = _fast_path_blocker(layer)
            if "forward" not in vars(layer) and not _has_any(layer, active):
                forwards[layer] = _BaseOnlyForward(_base_call(layer))
            elif reason is None and self.stacked:
                stack = self._stack(layer, active)
                forwards[layer] = _StackedForward(_base_call(layer), stack, plan, self.exact_rank_min_tokens)
            else:
                self._note_fallback(layer, reason or "stacked=False")
                _fallback(layer, plan, forwards, hooks)
        with self._patched(forwards, hooks):
            yield

    @contextlib.contextmanager
    def merged(self, name: str) -> Iterator[None]:
        """Inside, every row uses adapter ``name``, merged into the base weights (full base speed).

        The original weight tensors are kept and put back on exit (also on exceptions), so the base
        weights are bit-identical afterwards; only ``param.data`` is swapped, parameters keep their
        identity. Needs one weight-sized temporary per merged layer.
        """
        if not isinstance(name, str) or name == BASE_ROW:
            raise ValueError(f"merged() needs an adapter name, got {name!r}")
        layers = self.lora_layers()
        self._check_usable(layers, {name})
        swapped: list[tuple[LoraLinear, nn.Parameter, torch.Tensor, int]] = []
        forwards: dict[nn.Module, _Forward] = {}
        hooks: dict[nn.Module, Callable] = {}
        plan = _RowPlan((name,))
        cache: dict[LoraLinear, tuple[tuple, torch.Tensor]] = {}
        try:
            with torch.no_grad():
                for layer in layers:
                    if _mergeable(layer, name):
                        swapped.append(self._swap_in(layer, name, cache))
                        forwards[layer] = _BaseOnlyForward(_base_call(layer))
                    elif "forward" not in vars(layer) and not _has_any(layer, {name}):
                        forwards[layer] = _BaseOnlyForward(_base_call(layer))
                    else:
                        self._note_fallback(layer, _fast_path_blocker(layer) or "an unmergeable base weight")
                        _fallback(layer, plan, forwards, hooks)
            with self._patched(forwards, hooks):
                yield
        finally:
            for layer, param, original, version in reversed(swapped):
                if param._version != version:  # edited in place while merged: do not reuse
                    cache.pop(layer, None)
                param.data = original
            self._merged_cache = weakref.WeakKeyDictionary(cache if self.cache_merged else {})

    def _swap_in(
        self, layer: LoraLinear, name: str, cache: dict[LoraLinear, tuple[tuple, torch.Tensor]]
    ) -> tuple[LoraLinear, nn.Parameter, torch.Tensor, int]:
        """Swap the merged weight in (reusing a still-valid cached one); record it for caching.

        Version counters are per parameter (``param.data`` tensors have their own), so the key
        uses the parameters' counters: in-place edits of base or adapter weights invalidate it.
        """
        param = layer.get_base_layer().weight
        original = param.data
        a, b = layer.lora_A[name].weight, layer.lora_B[name].weight
        key = (
            name,
            float(layer.scaling[name]),
            (a.data_ptr(), a._version, b.data_ptr(), b._version),
            (original.data_ptr(), param._version),
        )
        hit = self._merged_cache.pop(layer, None)  # a stale entry is freed before merging anew
        merged = hit[1] if hit is not None and hit[0] == key else _merged_weight(layer, name, original)
        param.data = merged
        if self.cache_merged:
            cache[layer] = (key, merged)
        return layer, param, original, param._version


def _structure_key(model: nn.Module) -> tuple | None:
    """Identifies which LoRA layers exist: adapters come and go only through ``peft_config``."""
    configs = getattr(model, "peft_config", None)
    if not isinstance(configs, dict):
        return None
    return tuple(
        (
            name,
            id(cfg),
            repr(getattr(cfg, "target_modules", None)),
            repr(getattr(cfg, "exclude_modules", None)),
        )
        for name, cfg in configs.items()
    )


def _has_any(layer: LoraLayer, names: set[str]) -> bool:
    """Whether any of ``names`` has weights in this layer (else the layer is pure base for them)."""
    return bool(names & (set(layer.lora_A.keys()) | set(layer.lora_embedding_A.keys())))


def _merged_weight(layer: LoraLinear, name: str, original: torch.Tensor) -> torch.Tensor:
    """A new tensor W + scale * B @ A in W's layout and dtype; ``original`` is not modified."""
    a, b = layer.lora_A[name].weight, layer.lora_B[name].weight
    scale = float(layer.scaling[name])
    if a.dtype == b.dtype == original.dtype and original.dim() == 2:
        # one fused pass instead of materialising the delta and adding it
        if layer.fan_in_fan_out:
            return torch.addmm(original, a.t(), b.t(), alpha=scale)
        return torch.addmm(original, b, a, alpha=scale)
    delta = layer.get_delta_weight(name)  # handles fp16/bf16 on CPU
    return (original.to(delta.dtype) + delta).to(original.dtype)
