"""Tiny models built from configs in seconds, so tests need no downloads.

The base model builders are :mod:`mole_core.testing`'s (the fixtures plugin authors use too); adapters
with every LoRA variant are built here.
"""

from __future__ import annotations

from pathlib import Path

from mole_core.testing import CHAT_TEMPLATE, SPECIAL, TINY_TEXT, build_tiny_llama, build_tokenizer

__all__ = ["CHAT_TEMPLATE", "SPECIAL", "TINY_TEXT", "build_tiny_llama", "build_tokenizer", "make_adapter"]


def make_adapter(
    base: Path,
    out: Path,
    rank: int = 4,
    alpha: float | None = None,
    targets: list[str] | str | None = None,
    seed: int = 1,
    **lora: object,
) -> Path:
    """A PEFT LoRA adapter with random (non-zero) A and B, saved as safetensors. ``lora`` goes to
    ``LoraConfig`` (``use_dora``, ``use_rslora``, ``rank_pattern``, ``lora_bias``, ``modules_to_save``...);
    DoRA magnitudes and saved modules are perturbed too, so every variant changes the output."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base)
    config = LoraConfig(
        r=rank,
        lora_alpha=alpha if alpha is not None else rank,
        lora_dropout=0.1,
        target_modules=targets
        or ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        init_lora_weights=False,
        task_type="CAUSAL_LM",
        **lora,
    )
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if (
                "lora_magnitude_vector" in name
                or "modules_to_save" in name
                or "lora_B" in name
                and "bias" in name
            ):
                param.add_(torch.randn_like(param) * 0.1 * (param.abs().mean() + 0.1))
    peft_model.save_pretrained(out)
    return out
