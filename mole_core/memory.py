"""Memory *measured* on a loaded system, not computed from a formula.

Published savings are often arithmetic (parameters times bytes); here every figure is read off live
tensors or the process's resident set: the base model's tensors, each adapter's LoRA tensors, the
router's, and N separate full models (each expert merged into its own copy of the base) — at least
two of which are really loaded and measured; beyond that the per-model figure is extrapolated, and the report says so.
"""

from __future__ import annotations

import gc
import logging
import os
from typing import Any

import psutil
from pydantic import BaseModel, Field

from .runtime import MoLE

log = logging.getLogger(__name__)


class ExpertMemory(BaseModel):
    name: str
    rank: int
    tensor_bytes: int


class FullModelMemory(BaseModel):
    name: str
    tensor_bytes: int
    rss_delta_bytes: int


class MemoryReport(BaseModel):
    """Bytes, measured. ``full_models_measured`` of ``n_experts`` full models were really loaded."""

    base_id: str
    dtype: str
    base_tensor_bytes: int
    experts: list[ExpertMemory]
    router_tensor_bytes: int
    rss_bytes: int = Field(
        description="Resident memory of the measuring process after every weight was read once: the "
        "loaded system plus the Python interpreter, torch and libraries. Always a fresh process that "
        "loaded only the registry (`mole memory`, and the quickstart runs it in one), so figures compare."
    )
    router_note: str | None = Field(default=None, description="Why the router is not counted, if it is not.")
    mole_tensor_bytes: int = Field(description="base + every adapter + router")
    full_models: list[FullModelMemory]
    full_models_measured: int
    n_experts: int
    full_total_bytes: int = Field(description="N full models: measured per-model bytes x N")
    full_total_extrapolated: bool
    savings_fraction: float
    per_expert_bytes: int = Field(description="Mean adapter tensor bytes of the registered experts")
    added_expert_bytes: int | None = Field(
        default=None, description="Measured: model tensor bytes gained by attaching one more adapter"
    )
    added_expert_rss_delta_bytes: int | None = None


def tensor_bytes(tensors: Any) -> int:
    """Bytes of distinct tensor storages (tied weights counted once)."""
    seen: set[int] = set()
    total = 0
    for t in tensors:
        ptr = t.untyped_storage().data_ptr()
        if ptr in seen:
            continue
        seen.add(ptr)
        total += t.untyped_storage().nbytes()
    return total


def adapter_tensors(model: Any, adapter: str) -> list[Any]:
    """The LoRA A/B tensors that belong to one adapter name."""
    out = []
    for name, param in model.named_parameters():
        if f".{adapter}." in name and ("lora_A" in name or "lora_B" in name or "lora_embedding" in name):
            out.append(param)
    return out


def base_tensors(model: Any) -> list[Any]:
    out = []
    for name, param in model.named_parameters():
        if "lora_" not in name:
            out.append(param)
    out.extend(model.buffers())
    return out


def router_bytes(router: Any) -> int:
    """Tensor bytes of a router (:meth:`~mole_core.Router.tensors`); 0 without one."""
    return 0 if router is None else tensor_bytes(router.tensors())


def rss() -> int:
    return psutil.Process().memory_info().rss


def touch(tensors: list[Any]) -> None:
    """Read every tensor once. safetensors files are memory-mapped (transformers' loading, PEFT's
    ``low_cpu_mem_usage``), so weights become resident only when first read; serving reads them all,
    and resident memory measured before that would undercount."""
    import torch

    with torch.inference_mode():
        for tensor in tensors:
            if tensor.device.type == "cpu" and tensor.numel():
                tensor.sum()


def _full_models(mole: MoLE, full_models: int) -> list[FullModelMemory]:
    """Load the first ``full_models`` experts each merged into its own copy of the base, and measure them."""
    from . import basemodel
    from .runtime import verify_adapter

    manifest = mole.manifest
    measured: list[FullModelMemory] = []
    keep: list[Any] = []  # hold the copies so each load's RSS delta is real
    source = basemodel.resolve_source(manifest.base)
    for entry in manifest.experts[: max(0, full_models)]:
        from peft import PeftModel

        gc.collect()
        before = rss()
        base = basemodel.load_model(manifest.base, source)
        with basemodel.quiet_loading():
            merged = PeftModel.from_pretrained(base, str(verify_adapter(mole.registry, entry)))
        merged = merged.merge_and_unload()
        keep.append(merged)
        touch(list(merged.parameters()) + list(merged.buffers()))
        gc.collect()
        measured.append(
            FullModelMemory(
                name=entry.name,
                tensor_bytes=tensor_bytes(list(merged.parameters()) + list(merged.buffers())),
                rss_delta_bytes=rss() - before,
            )
        )
        log.info("full model %s: %d bytes", entry.name, measured[-1].tensor_bytes)
    del keep
    gc.collect()
    return measured


def measure(mole: MoLE, full_models: int = 2) -> MemoryReport:
    """Measure ``mole`` as loaded, then load ``full_models`` merged full copies and measure those."""
    manifest = mole.manifest
    base_bytes = tensor_bytes(base_tensors(mole.model))
    experts = [
        ExpertMemory(name=e.name, rank=e.rank, tensor_bytes=tensor_bytes(adapter_tensors(mole.model, e.name)))
        for e in manifest.experts
    ]
    r_bytes = router_bytes(mole._router)
    added, added_rss = _measure_one_more(mole)
    mole_total = base_bytes + sum(e.tensor_bytes for e in experts) + r_bytes
    # weights are memory-mapped: unread pages are not resident, which put RSS below the tensor bytes
    touch(list(mole.model.parameters()) + list(mole.model.buffers()))
    if mole._router is not None:
        touch(list(mole._router.tensors()))
    gc.collect()
    rss_now = rss()

    measured = _full_models(mole, full_models)

    n = len(experts)
    per_full = (sum(m.tensor_bytes for m in measured) / len(measured)) if measured else base_bytes
    full_total = int(per_full * n)
    return MemoryReport(
        base_id=manifest.base.id,
        dtype=str(next(mole.model.parameters()).dtype).removeprefix("torch."),
        base_tensor_bytes=base_bytes,
        experts=experts,
        router_tensor_bytes=r_bytes,
        rss_bytes=rss_now,
        mole_tensor_bytes=mole_total,
        full_models=measured,
        full_models_measured=len(measured),
        n_experts=n,
        full_total_bytes=full_total,
        full_total_extrapolated=len(measured) < n,
        savings_fraction=(1 - mole_total / full_total) if full_total else 0.0,
        per_expert_bytes=int(sum(e.tensor_bytes for e in experts) / n) if n else 0,
        added_expert_bytes=added,
        added_expert_rss_delta_bytes=added_rss,
    )


def _measure_one_more(mole: MoLE) -> tuple[int | None, int | None]:
    """Attach the first expert's adapter again under a scratch name; measure what it adds; detach."""
    from .runtime import verify_adapter

    if not mole.manifest.experts:
        return None, None
    entry = mole.manifest.experts[0]
    scratch = "__mole_memory_probe__"
    gc.collect()
    before_bytes = tensor_bytes(list(mole.model.parameters()))
    before_rss = rss()
    mole.model.load_adapter(  # as the runtime attaches experts
        str(verify_adapter(mole.registry, entry)),
        adapter_name=scratch,
        is_trainable=False,
        low_cpu_mem_usage=True,
    )
    touch(adapter_tensors(mole.model, scratch))
    gc.collect()
    added = tensor_bytes(list(mole.model.parameters())) - before_bytes
    added_rss = rss() - before_rss
    mole.model.delete_adapter(scratch)
    if mole._mixed is not None:
        mole._mixed.invalidate()
    return added, added_rss


def measure_registry(directory: str | os.PathLike[str], full_models: int = 2) -> MemoryReport:
    """``mole memory``: the registry loaded on the CPU with every adapter attached (resident memory is
    the figure compared), its router counted when it loads, then :func:`measure`."""
    from .errors import MoleError
    from .registry import Registry
    from .routing import load_router

    registry = Registry(directory)
    manifest = registry.load()
    router, note = None, None
    if manifest.experts:
        try:  # the experts' memory does not depend on the router
            router = load_router(registry, manifest)
        except MoleError as exc:
            note = str(exc)
    mole = MoLE.from_registry(
        registry, device="cpu", router=router, load_router=False, max_loaded_experts="all"
    )
    report = measure(mole, full_models=full_models)
    report.router_note = note
    return report


def _measure_registry_dump(directory: str, full_models: int) -> dict[str, Any]:
    return measure_registry(directory, full_models).model_dump()


def measure_fresh(directory: str | os.PathLike[str], full_models: int = 2) -> MemoryReport:
    """:func:`measure_registry` in a fresh (spawned) process, so a long-running caller (the quickstart,
    after training) reports exactly what ``mole memory`` reports, and its own heap stays out of it."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        data = pool.submit(_measure_registry_dump, str(directory), full_models).result()
    return MemoryReport.model_validate(data)
