"""MixedLoRA must agree with PEFT's per-row ``adapter_names`` path and leave the model untouched."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402
from peft.tuners.lora import Linear as LoraLinear  # noqa: E402
from peft.tuners.lora.layer import LoraLayer  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

from mole_core.fastlora import MixedLoRA  # noqa: E402

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
RANKS = {"math": 8, "code": 4, "chat": 2}
VOCAB = 256
PAD = 0
ROWS = ["math", "code", None, "chat", "math", "qv"]  # "math" non-contiguous (index path), "qv" only on q/v
ATOL = 1e-3


def _config(r: int, targets: list[str] = TARGETS, **kw: object) -> LoraConfig:
    # init_lora_weights=False: B is random too, so every adapter changes the outputs
    return LoraConfig(r=r, lora_alpha=2 * r, target_modules=targets, init_lora_weights=False, **kw)


def _tiny_peft(extra: dict[str, LoraConfig] | None = None) -> PeftModel:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        pad_token_id=PAD,
        eos_token_id=None,
        bos_token_id=None,
        tie_word_embeddings=False,
    )
    model: PeftModel | None = None
    configs = {name: _config(r) for name, r in RANKS.items()}
    configs["qv"] = _config(16, ["q_proj", "v_proj"])
    configs.update(extra or {})
    for name, cfg in configs.items():
        if model is None:
            model = get_peft_model(LlamaForCausalLM(config), cfg, adapter_name=name)
        else:
            model.add_adapter(name, cfg)
    assert model is not None
    model.generation_config.pad_token_id = PAD
    return model.eval()


@pytest.fixture
def model() -> PeftModel:
    return _tiny_peft()


def _batch(rows: int = len(ROWS), length: int = 9, seed: int = 1) -> dict[str, torch.Tensor]:
    """Left-padded random prompts of different lengths."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (rows, length), generator=gen)
    mask = torch.ones(rows, length, dtype=torch.long)
    for i in range(rows):
        pad = i % 4
        ids[i, :pad] = PAD
        mask[i, :pad] = 0
    return {"input_ids": ids, "attention_mask": mask}


def _peft_names(rows: list[str | None]) -> list[str]:
    return ["__base__" if r is None else r for r in rows]


@torch.no_grad()
def _peft_logits(model: PeftModel, batch: dict, rows: list[str | None]) -> torch.Tensor:
    return model(**batch, adapter_names=_peft_names(rows)).logits


def _peft_alone_logits(model: PeftModel, batch: dict, rows: list[str | None]) -> torch.Tensor:
    """Each row through PEFT's single-adapter path (for DoRA, which PEFT's per-row path refuses)."""
    out = []
    for i, name in enumerate(rows):
        row = {k: v[i : i + 1] for k, v in batch.items()}
        if name is None:
            with model.disable_adapter():
                out.append(model(**row).logits)
        else:
            model.set_adapter(name)
            out.append(model(**row).logits)
    return torch.cat(out)


def _base_weights(model: PeftModel) -> dict[str, tuple[torch.Tensor, torch.Tensor, int]]:
    return {
        n: (p, p.detach().clone(), p.data_ptr())
        for n, p in model.named_parameters()
        if "lora_" not in n and "base_layer" in n
    }


def _assert_restored(model: PeftModel, snapshot: dict) -> None:
    assert snapshot
    for name, (param, copy, ptr) in snapshot.items():
        assert param.data_ptr() == ptr, name
        assert torch.equal(param.detach(), copy), name
    for layer in model.modules():
        if isinstance(layer, LoraLayer):
            assert "forward" not in vars(layer)
            assert not layer._forward_pre_hooks


def _stacked_layers(model: PeftModel) -> list[LoraLinear]:
    return [m for m in model.modules() if type(vars(m).get("forward")).__name__ == "_StackedForward"]


@pytest.mark.parametrize("exact_rank_min_tokens", [1, 10**9], ids=["exact-rank-prefill", "stacked-prefill"])
def test_mixed_logits_match_peft(model: PeftModel, exact_rank_min_tokens: int) -> None:
    batch = _batch()
    expected = _peft_logits(model, batch, ROWS)
    with torch.no_grad():
        base = model(**batch, adapter_names=["__base__"] * len(ROWS)).logits
    assert (expected - base).abs().amax() > 0.1  # the adapters matter, so equality below means something
    mixed = MixedLoRA(model, exact_rank_min_tokens=exact_rank_min_tokens)
    with torch.no_grad(), mixed.rows(ROWS):
        assert _stacked_layers(model)
        got = model(**batch).logits
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)
    assert torch.equal(got[2], base[2]) or (got[2] - base[2]).abs().amax() < 1e-5  # None row = bare base


def test_mixed_generate_matches_peft_with_left_padding(model: PeftModel) -> None:
    batch = _batch()
    kw = {"max_new_tokens": 8, "do_sample": False}
    with torch.no_grad():
        expected = model.generate(**batch, adapter_names=_peft_names(ROWS), **kw)
        base = model.generate(**batch, adapter_names=["__base__"] * len(ROWS), **kw)
    assert not torch.equal(expected, base)
    with torch.no_grad(), MixedLoRA(model).rows(ROWS):
        got = model.generate(**batch, **kw)
    assert torch.equal(got, expected)


def test_mixed_generate_with_beams_expands_rows(model: PeftModel) -> None:
    rows = ["math", "chat", None]
    batch = _batch(rows=3)
    kw = {"max_new_tokens": 5, "do_sample": False, "num_beams": 2, "num_return_sequences": 2}
    with torch.no_grad():
        expected = model.generate(**batch, adapter_names=_peft_names(rows), **kw)
    with torch.no_grad(), MixedLoRA(model).rows(rows):
        got = model.generate(**batch, **kw)
    assert torch.equal(got, expected)


def test_uniform_rows_merge_matches_peft_and_restores_bitwise(model: PeftModel) -> None:
    batch = _batch()
    rows = ["code"] * len(ROWS)
    expected = _peft_logits(model, batch, rows)
    kw = {"max_new_tokens": 8, "do_sample": False}
    with torch.no_grad():
        expected_tokens = model.generate(**batch, adapter_names=rows, **kw)
    snapshot = _base_weights(model)
    mixed = MixedLoRA(model)
    with torch.no_grad(), mixed.rows(rows):
        assert not _stacked_layers(model)  # merged, not stacked
        changed = [n for n, (p, copy, _) in snapshot.items() if not torch.equal(p.detach(), copy)]
        assert len(changed) == 2 * len(TARGETS)  # every targeted linear of both layers carries "code"
        got = model(**batch).logits
        tokens = model.generate(**batch, **kw)
    _assert_restored(model, snapshot)
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)
    assert torch.equal(tokens, expected_tokens)
    with torch.no_grad(), mixed.merged("chat"):
        got_c = model(**batch).logits
    _assert_restored(model, snapshot)
    torch.testing.assert_close(got_c, _peft_logits(model, batch, ["chat"] * len(ROWS)), atol=ATOL, rtol=0)


def test_uniform_rows_without_merge_and_all_base_rows(model: PeftModel) -> None:
    batch = _batch()
    with torch.no_grad(), MixedLoRA(model).rows(["math"] * len(ROWS), merge=False):
        assert _stacked_layers(model)
        got = model(**batch).logits
    torch.testing.assert_close(got, _peft_logits(model, batch, ["math"] * len(ROWS)), atol=ATOL, rtol=0)
    with torch.no_grad(), MixedLoRA(model).rows([None] * len(ROWS)):
        got = model(**batch).logits
    torch.testing.assert_close(got, _peft_logits(model, batch, [None] * len(ROWS)), atol=1e-5, rtol=0)


def test_rebuilds_when_adapters_change(model: PeftModel) -> None:
    batch = _batch()
    mixed = MixedLoRA(model)
    with torch.no_grad(), mixed.rows(ROWS):
        model(**batch)
    built = mixed.builds
    assert built > 0
    with torch.no_grad(), mixed.rows(ROWS):  # nothing changed: stacks reused
        model(**batch)
    assert mixed.builds == built

    model.add_adapter("extra", _config(6, [*TARGETS, "lm_head"]))  # lm_head: a new LoRA layer
    model.eval()
    rows = ["extra", "math", None, "extra", "code", "qv"]
    with torch.no_grad(), mixed.rows(rows):
        got = model(**batch).logits
    assert mixed.builds > built
    torch.testing.assert_close(got, _peft_logits(model, batch, rows), atol=ATOL, rtol=0)

    with torch.no_grad():  # in-place edit of an adapter's weights is seen too
        for layer in model.modules():
            if isinstance(layer, LoraLinear) and "extra" in layer.lora_B:
                layer.lora_B["extra"].weight.mul_(-2.0)
    with torch.no_grad(), mixed.rows(rows):
        got = model(**batch).logits
    torch.testing.assert_close(got, _peft_logits(model, batch, rows), atol=ATOL, rtol=0)

    model.delete_adapter("extra")
    with pytest.raises(ValueError, match="unknown adapter"), mixed.rows(rows):
        pass
    with torch.no_grad(), mixed.rows(ROWS):
        got = model(**batch).logits
    torch.testing.assert_close(got, _peft_logits(model, batch, ROWS), atol=ATOL, rtol=0)


@pytest.mark.parametrize("rows", [ROWS, ["chat"] * len(ROWS)], ids=["stacked", "merged"])
def test_exception_inside_context_restores_everything(model: PeftModel, rows: list[str | None]) -> None:
    batch = _batch()
    with torch.no_grad():
        before = model(**batch).logits  # PEFT's normal path, active adapter "math"
    snapshot = _base_weights(model)
    mixed = MixedLoRA(model)
    with pytest.raises(KeyError, match="boom"), torch.no_grad(), mixed.rows(rows):
        model(**batch)
        raise KeyError("boom")
    _assert_restored(model, snapshot)
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, before)
    with torch.no_grad(), mixed.rows(ROWS):  # usable again afterwards
        model(**batch)


def test_refuses_training_mode_and_nesting(model: PeftModel) -> None:
    mixed = MixedLoRA(model)
    model.train()
    with pytest.raises(RuntimeError, match="inference"), mixed.rows(ROWS):
        pass
    model.eval()
    with mixed.rows(ROWS), pytest.raises(RuntimeError, match="nest"), mixed.rows(ROWS):
        pass
    _assert_restored(model, _base_weights(model))


@pytest.mark.parametrize(
    "extra",
    [
        {"dora": _config(4, ["q_proj", "o_proj"], use_dora=True)},
        {"bias": _config(4, ["v_proj", "down_proj"], lora_bias=True)},
        {"emb": _config(4, ["embed_tokens", "q_proj"])},
    ],
    ids=["dora", "lora_bias", "embedding"],
)
def test_unsupported_layers_fall_back_to_peft(extra: dict, caplog: pytest.LogCaptureFixture) -> None:
    model = _tiny_peft(extra)
    (special,) = extra
    batch = _batch()
    rows = ["math", special, None, "chat", special, "qv"]
    # PEFT's per-row path refuses DoRA rows; MixedLoRA serves them, equal to PEFT's single-adapter path
    reference = _peft_alone_logits if special == "dora" else _peft_logits
    with torch.no_grad():
        expected = reference(model, batch, rows)
    mixed = MixedLoRA(model)
    with caplog.at_level(logging.INFO, logger="mole_core.fastlora"), torch.no_grad(), mixed.rows(rows):
        got = model(**batch).logits
    assert "PEFT's per-row path" in caplog.text
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)
    snapshot = _base_weights(model)
    uniform = [special] * len(rows)
    with torch.no_grad(), mixed.rows(uniform):
        got = model(**batch).logits
    with torch.no_grad():
        torch.testing.assert_close(got, reference(model, batch, uniform), atol=ATOL, rtol=0)
    _assert_restored(model, snapshot)


def test_fan_in_fan_out_conv1d_base() -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    gpt = GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=1, n_head=2, n_positions=64))
    model = None
    for name, r in RANKS.items():
        cfg = LoraConfig(r=r, target_modules=["c_attn", "c_fc"], fan_in_fan_out=True, init_lora_weights=False)
        model = get_peft_model(gpt, cfg, adapter_name=name) if model is None else model
        if name not in model.peft_config:
            model.add_adapter(name, cfg)
    assert model is not None
    model.eval()
    batch = _batch(rows=4)
    rows = ["math", "code", None, "chat"]
    snapshot = _base_weights(model)
    with torch.no_grad(), MixedLoRA(model).rows(rows):
        got = model(**batch).logits
    torch.testing.assert_close(got, _peft_logits(model, batch, rows), atol=ATOL, rtol=0)
    with torch.no_grad(), MixedLoRA(model).rows(["code"] * 4):
        got = model(**batch).logits
    torch.testing.assert_close(got, _peft_logits(model, batch, ["code"] * 4), atol=ATOL, rtol=0)
    _assert_restored(model, snapshot)


def _targeted_ptrs(model: PeftModel) -> list[int]:
    return [m.get_base_layer().weight.data_ptr() for m in model.modules() if isinstance(m, LoraLinear)]


def test_cache_merged_reuses_and_invalidates(model: PeftModel) -> None:
    batch = _batch()
    snapshot = _base_weights(model)
    mixed = MixedLoRA(model, cache_merged=True)
    with torch.no_grad(), mixed.merged("code"):
        first = _targeted_ptrs(model)
    _assert_restored(model, snapshot)
    with torch.no_grad(), mixed.merged("code"):
        assert _targeted_ptrs(model) == first  # merged tensors reused, no new merge
        got = model(**batch).logits
    torch.testing.assert_close(got, _peft_logits(model, batch, ["code"] * len(ROWS)), atol=ATOL, rtol=0)
    _assert_restored(model, snapshot)

    with torch.no_grad():  # editing the adapter in place must invalidate the cached merge
        next(m for m in model.modules() if isinstance(m, LoraLinear)).lora_A["code"].weight.mul_(3.0)
    with torch.no_grad(), mixed.merged("code"):
        assert _targeted_ptrs(model)[0] not in first
        got = model(**batch).logits
    torch.testing.assert_close(got, _peft_logits(model, batch, ["code"] * len(ROWS)), atol=ATOL, rtol=0)
    _assert_restored(model, snapshot)


def test_only_the_batch_adapters_are_stacked(model: PeftModel) -> None:
    """With many experts attached, rows must not pay for ranks no row uses."""
    batch = _batch()
    rows = ["chat", None, "math", "chat", "math", None]
    mixed = MixedLoRA(model)
    with torch.no_grad(), mixed.rows(rows):
        stacks = {vars(m)["forward"].stack.names for m in _stacked_layers(model)}
        got = model(**batch).logits
    assert stacks == {("math", "chat")}
    torch.testing.assert_close(got, _peft_logits(model, batch, rows), atol=ATOL, rtol=0)


def test_bf16_base_stacks_in_bf16_and_is_as_close_to_fp32_as_peft() -> None:
    """PEFT keeps fp32 adapters on a bf16 base; the fast path stacks them in bf16 (no per-layer casts).
    Its error against an fp32 reference of the same weights must stay of the order of PEFT's own."""
    import copy

    model = _tiny_peft()
    reference = copy.deepcopy(model)  # fp32 everywhere, base weights rounded through bf16 like the model's
    for module in (model, reference):
        for name, param in module.named_parameters():
            if "lora_" not in name:
                param.data = param.data.to(torch.bfloat16)
    for param in reference.parameters():
        param.data = param.data.float()
    assert {p.dtype for n, p in model.named_parameters() if "lora_" in n} == {torch.float32}
    batch = _batch()
    expected = _peft_logits(reference, batch, ROWS)
    peft_err = (_peft_logits(model, batch, ROWS).float() - expected).abs().amax()
    mixed = MixedLoRA(model)
    with torch.no_grad(), mixed.rows(ROWS):
        assert {vars(m)["forward"].stack.a.dtype for m in _stacked_layers(model)} == {torch.bfloat16}
        got = model(**batch).logits
    assert got.dtype == torch.bfloat16
    fast_err = (got.float() - expected).abs().amax()
    assert fast_err <= 2 * peft_err + 0.02, (fast_err, peft_err)
