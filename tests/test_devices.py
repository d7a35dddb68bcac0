"""Choosing the device: auto picks a GPU when there is one; asking for a missing one is a clear error."""

from __future__ import annotations

import json

import pytest
import torch

from mole_core import MoleError, Registry
from mole_core.devices import resolve_device
from mole_core.runtime import MoLE


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.delenv("MOLE_DEVICE", raising=False)


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("MOLE_DEVICE", raising=False)


def test_auto_is_cpu_without_a_gpu(no_gpu: None) -> None:
    assert resolve_device() == "cpu"
    assert resolve_device("auto") == "cpu"


def test_auto_prefers_a_cuda_gpu_and_checks_the_index(two_gpus: None) -> None:
    assert resolve_device() == "cuda"
    assert resolve_device(" CUDA:1 ") == "cuda:1"
    with pytest.raises(MoleError, match=r"'cuda:2'.*2 GPU"):
        resolve_device("cuda:2")


def test_environment_variable_is_the_default(no_gpu: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOLE_DEVICE", "cuda")
    with pytest.raises(MoleError, match="sees no CUDA GPU"):
        resolve_device()
    assert resolve_device("cpu") == "cpu", "an explicit device wins over the environment"


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "cuda:-1", "tpu", "cpu:0"])
def test_unknown_device_names_are_refused(name: str) -> None:
    with pytest.raises(MoleError, match="unknown device"):
        resolve_device(name)


def test_missing_gpu_is_an_error_not_a_fallback(no_gpu: None) -> None:
    for name in ("cuda", "cuda:0", "mps"):
        with pytest.raises(MoleError, match="asked for"):
            resolve_device(name)


@pytest.fixture
def one_expert(registry: Registry, adapter_factory) -> Registry:
    registry.add_expert("alpha", adapter_factory(rank=4))
    return registry


def test_runtime_loads_on_the_resolved_device(one_expert: Registry, no_gpu: None) -> None:
    mole = MoLE.from_registry(one_expert.root, load_router=False, device="cpu")
    assert mole.device == "cpu"
    assert {p.device.type for p in mole.model.parameters()} == {"cpu"}
    with pytest.raises(MoleError, match="sees no CUDA GPU"):
        MoLE.from_registry(one_expert.root, load_router=False, device="cuda")


def test_generate_cli_device_option(cli, one_expert: Registry, no_gpu: None) -> None:
    reg = str(one_expert.root)
    ok = cli(
        "generate",
        "hi",
        "--expert",
        "alpha",
        "--max-new-tokens",
        "2",
        "--device",
        "cpu",
        "--json",
        "--registry",
        reg,
    )
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout.splitlines()[0])["expert"] == "alpha"
    bad = cli("generate", "hi", "--expert", "alpha", "--device", "cuda", "--registry", reg)
    assert bad.exit_code == 1
    assert bad.output.strip().splitlines() == [
        f"error: device 'cuda' asked for, but torch {torch.__version__} sees no CUDA GPU here"
    ]


def test_quickstart_refuses_a_missing_device_before_any_work(cli, tmp_path, no_gpu: None) -> None:
    target = tmp_path / "demo"
    result = cli("quickstart", str(target), "--device", "cuda:0")
    assert result.exit_code == 1 and "sees no CUDA GPU" in result.output
    assert not target.exists(), "nothing may be created or trained for a run that cannot finish"
