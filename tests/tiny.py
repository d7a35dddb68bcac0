"""Tiny models built from configs in seconds, so tests need no downloads."""

from __future__ import annotations

from pathlib import Path

TINY_TEXT = [
    "Solve 2x + 3 = 7 for x. Subtract 3 from both sides, then divide by 2: x = 2.",
    "Compare the philosophies of Plato and Aristotle on the nature of forms.",
    "How does a vaccine train the immune system to recognise a virus?",
    "What is the capital of France? Paris.",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.",
    "The quick brown fox jumps over the lazy dog. 0123456789 + - * / = ? ! , . ' \" ( )",
]
SPECIAL = ["<|endoftext|>", "<|pad|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tokenizer():  # noqa: ANN201
    """A byte-level BPE tokenizer (pad distinct from EOS, with a chat template)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(TINY_TEXT * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|pad|>", bos_token=None
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_llama(
    path: Path, seed: int = 0, hidden: int = 64, layers: int = 2, positions: int = 256
) -> Path:
    """Save a random tiny Llama and its tokenizer to ``path`` (a valid local base model)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=positions,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


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
