"""The runtime on a CUDA GPU: skipped where there is none (CI); run on a GPU machine when one is lent."""

from __future__ import annotations

import json

import pytest
import torch

from mole_core import Registry
from mole_core.runtime import MoLE

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

ROWS = ["alpha", "beta", None, "gamma", "alpha", "beta"]
TEXTS = ["one two three", "a longer prompt with more words in it", "x", "tell me", "why", "solve 2x = 4"]


@pytest.fixture
def three(registry: Registry, adapter_factory) -> Registry:
    for name, rank, seed in (("alpha", 8, 1), ("beta", 4, 2), ("gamma", 2, 3)):
        registry.add_expert(name, adapter_factory(rank=rank, seed=seed))
    return registry


def _batch(mole: MoLE) -> dict[str, torch.Tensor]:
    batch = mole.tokenizer(TEXTS, return_tensors="pt", padding=True)
    return {k: v.to(mole.model.device) for k, v in batch.items()}


def _logits(mole: MoLE, rows: list[str | None], fast: bool) -> torch.Tensor:
    batch = _batch(mole)
    with torch.inference_mode():
        if fast:
            with mole._mixed.rows(rows):
                out = mole.model(**batch).logits
        else:
            names = [r or "__base__" for r in rows]
            out = mole.model(**batch, adapter_names=names).logits
    return out[batch["attention_mask"].bool()].float().cpu()


def test_everything_lives_on_the_gpu(three: Registry) -> None:
    mole = MoLE.from_registry(three.root, load_router=False, device="cuda")
    assert mole.device.startswith("cuda")
    assert {p.device.type for p in mole.model.parameters()} == {"cuda"}, "adapters must follow the base model"


def test_fast_path_equals_peft_per_row_on_gpu_and_the_cpu(three: Registry) -> None:
    gpu = MoLE.from_registry(three.root, load_router=False, device="cuda")
    cpu = MoLE.from_registry(three.root, load_router=False, device="cpu")
    fast = _logits(gpu, ROWS, fast=True)
    assert (fast - _logits(gpu, ROWS, fast=False)).abs().max() < 1e-4
    assert (fast - _logits(cpu, ROWS, fast=True)).abs().max() < 1e-3
    texts = [g.text for g in gpu.generate(TEXTS[:3], expert="beta", max_new_tokens=6)]
    assert texts == [g.text for g in cpu.generate(TEXTS[:3], expert="beta", max_new_tokens=6)]


def test_merged_batch_leaves_gpu_base_weights_bit_identical(three: Registry) -> None:
    mole = MoLE.from_registry(three.root, load_router=False, device="cuda")
    before = {n: p.detach().clone() for n, p in mole.model.named_parameters() if "lora_" not in n}
    merged = [g.text for g in mole.generate(TEXTS, expert="alpha", max_new_tokens=5)]
    after = {n: p for n, p in mole.model.named_parameters() if "lora_" not in n}
    assert all(torch.equal(before[n], after[n]) for n in before)
    mole._mixed = None  # PEFT's own path, unmerged
    assert [g.text for g in mole.generate(TEXTS, expert="alpha", max_new_tokens=5)] == merged


def test_generate_cli_on_the_gpu(cli, three: Registry) -> None:
    result = cli(
        "generate",
        "hello",
        "--expert",
        "gamma",
        "--max-new-tokens",
        "3",
        "--device",
        "cuda",
        "--json",
        "--registry",
        str(three.root),
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[0])["expert"] == "gamma"
