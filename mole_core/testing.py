"""Test fixtures for MoLE plugins and MoLE itself: a pytest plugin, loaded with ``-p mole_core.testing``.

Add ``addopts = "-p mole_core.testing"`` under ``[tool.pytest.ini_options]`` in your ``pyproject.toml`` (or
``pytest_plugins = ["mole_core.testing"]`` in your top-level ``conftest.py``) and these fixtures exist:

* ``register_plugin(plugin, name)``: register a plugin module or object for one test, removed afterwards
  (a plugin already loaded through its entry point is left as it is).
* ``tiny_base``: a random tiny Llama and its tokenizer saved as a local base model, built in seconds with
  no download (session-scoped).
* ``tiny_registry``: a fresh :class:`~mole_core.Registry` over ``tiny_base`` in the test's ``tmp_path``.
* ``mole_cli(*args)``: run the ``mole`` command in-process with click's ``CliRunner``; returns its
  ``Result`` (``exit_code``, ``stdout``, ``stderr``, ``output``).

:func:`build_tiny_llama` and :func:`build_tokenizer` are the builders behind ``tiny_base``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

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


@pytest.fixture
def register_plugin() -> Iterator[Callable[[object, str], None]]:
    """``register(plugin, name)`` for one test; every plugin it registered is removed afterwards."""
    from . import plugins

    removers: list[Callable[[], None]] = []

    def register(plugin: object, name: str) -> None:
        plugins.load_plugins()
        if plugins.pm.is_registered(plugin) or plugins.pm.get_plugin(name) is plugin:
            return  # already loaded, e.g. through its entry point: leave it to whoever loaded it
        removers.append(plugins.register_plugin(plugin, name))

    yield register
    for remove in reversed(removers):
        remove()


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny Llama saved as a local base model (seconds to build, no download)."""
    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture
def tiny_registry(tmp_path: Path, tiny_base: Path) -> Any:
    """A fresh registry over ``tiny_base`` in ``tmp_path / "reg"``."""
    from .registry import Registry

    return Registry.init(tmp_path / "reg", base=str(tiny_base))


@pytest.fixture
def mole_cli() -> Callable[..., Any]:
    """``mole_cli(*args, **kwargs)``: the ``mole`` command run in-process by click's ``CliRunner``."""
    from click.testing import CliRunner

    from .cli import cli

    runner = CliRunner()

    def invoke(*args: str, **kwargs: Any) -> Any:
        return runner.invoke(cli, list(args), catch_exceptions=False, **kwargs)

    return invoke
