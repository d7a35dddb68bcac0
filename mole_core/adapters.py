"""Reading PEFT adapter directories without loading a model: config, checksum, tensor shapes."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import AdapterError

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
"""Endings of pickled files, which can run code when loaded: never installed or published as they are."""
PICKLE_WEIGHTS = tuple(f"adapter_model{suffix}" for suffix in PICKLE_SUFFIXES)


def is_pickle(name: str | Path) -> bool:
    """Whether a file name has a pickle's ending (:data:`PICKLE_SUFFIXES`)."""
    return Path(str(name)).suffix.lower() in PICKLE_SUFFIXES


def pickle_weights(present: Callable[[str], bool]) -> list[str]:
    """The pickled adapter weight files among those ``present(name)`` says exist, in preference order."""
    return [name for name in PICKLE_WEIGHTS if present(name)]


ADAPTER_FILES = (CONFIG_NAME, WEIGHTS_NAME)
#: Far above any real LoRA (a rank cannot exceed the layer it adapts); past these a config is hostile.
MAX_RANK = 65536
MAX_ALPHA = 1e6


@dataclass(frozen=True)
class AdapterInfo:
    """What MoLE needs from a PEFT LoRA adapter directory."""

    path: Path
    rank: int
    alpha: float
    target_modules: list[str]
    base_model: str | None
    config: dict[str, Any]


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def checksum_mismatch(path: Path, expected: str | None) -> str | None:
    """``path``'s sha256 when ``expected`` is recorded and differs from it, else None: the one sha256 check."""
    if expected is None:
        return None
    actual = sha256_file(path)
    return None if actual == expected else actual


def read_adapter(directory: str | Path, allow_pickle: bool = False) -> AdapterInfo:
    """Validate a PEFT LoRA adapter directory and return its rank, alpha, targets and base model."""
    path = Path(directory)
    if not path.is_dir():
        raise AdapterError(f"adapter directory {path} does not exist")
    config_path = path / CONFIG_NAME
    if not config_path.is_file():
        raise AdapterError(f"{path} has no {CONFIG_NAME}: not a PEFT adapter directory")
    if not (path / WEIGHTS_NAME).is_file():
        pickles = pickle_weights(lambda name: (path / name).is_file())
        if pickles and not allow_pickle:
            raise AdapterError(
                f"{path / pickles[0]} is a pickle, which can run code when loaded; convert it to "
                f"safetensors or pass --allow-pickle if you trust it"
            )
        if not pickles:
            raise AdapterError(f"{path} has no {WEIGHTS_NAME}")
    config = read_json(config_path, AdapterError)
    if not isinstance(config, dict):
        raise AdapterError(f"{config_path}: expected a JSON object")
    peft_type = str(config.get("peft_type", "LORA")).upper()
    if peft_type != "LORA":
        raise AdapterError(f"{config_path}: peft_type is {peft_type!r}, MoLE needs 'LORA'")
    rank = check_rank(config.get("r"), f"{config_path}: r")
    alpha = check_alpha(config.get("lora_alpha", rank), f"{config_path}: lora_alpha")
    for key, check in (("rank_pattern", check_rank), ("alpha_pattern", check_alpha)):
        pattern = config.get(key) or {}
        if not isinstance(pattern, dict):
            raise AdapterError(f"{config_path}: {key} must be an object")
        for module, value in pattern.items():
            check(value, f"{config_path}: {key}[{module!r}]")
    targets = config.get("target_modules")
    if isinstance(targets, str):
        targets = [targets]
    if not isinstance(targets, list) or not targets or not all(isinstance(t, str) for t in targets):
        raise AdapterError(f"{config_path}: target_modules must be a non-empty list of module names")
    refuse_unsupported(config, config_path)
    base = config.get("base_model_name_or_path")
    return AdapterInfo(
        path=path,
        rank=rank,
        alpha=float(alpha),
        target_modules=sorted(targets),
        base_model=base if isinstance(base, str) and base else None,
        config=config,
    )


#: LoRA options that change what the adapter does beyond its LoRA matrices, and why MoLE refuses them:
#: a base model is shared by every expert, so each must be exactly ``base + its LoRA deltas``.
UNSUPPORTED = {
    "modules_to_save": "it replaces whole modules (e.g. lm_head, embed_tokens) of the shared base model",
    "trainable_token_indices": "it replaces token embeddings of the shared base model",
    "alora_invocation_tokens": "activated LoRA (aLoRA) is not supported",
    "layer_replication": "it changes the base model's layer stack",
    "target_parameters": "LoRA on raw parameters is not supported",
}


def refuse_unsupported(config: dict[str, Any], config_path: Path) -> None:
    """One line for a PEFT option MoLE cannot serve exactly (refused beats served wrong)."""
    for key, why in UNSUPPORTED.items():
        if config.get(key):
            raise AdapterError(
                f"{config_path}: {key} = {config[key]!r} is not supported: {why}; "
                f"retrain the adapter without {key} (plain LoRA, rsLoRA, DoRA, lora_bias and rank patterns work)"
            )


def uses_dora(directory: Path) -> bool:
    """Whether the adapter in ``directory`` is DoRA (``use_dora`` in its config)."""
    try:
        config = json.loads((directory / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and bool(config.get("use_dora"))


def read_json(path: Path, error: type[Exception] = AdapterError) -> object:
    """Parse a JSON file a user or the Hub supplied; anything wrong (including nesting deep enough to
    exhaust Python's recursion) is one ``error`` naming the file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: invalid JSON: {exc}") from exc
    except RecursionError as exc:
        raise error(f"{path}: invalid JSON: nested too deeply") from exc


def check_rank(value: object, what: str) -> int:
    """A LoRA rank: a positive integer no larger than :data:`MAX_RANK`."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_RANK:
        raise AdapterError(f"{what} must be an integer from 1 to {MAX_RANK}, got {value!r}")
    return value


def check_alpha(value: object, what: str) -> float:
    """A LoRA alpha: a finite positive number no larger than :data:`MAX_ALPHA`."""
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not 0 < value <= MAX_ALPHA
    ):
        raise AdapterError(f"{what} must be a finite number above 0 and at most {MAX_ALPHA:g}, got {value!r}")
    return float(value)


def check_tensor_ranks(directory: Path, info: AdapterInfo) -> None:
    """Every LoRA matrix has the rank the config states (``r``, or a ``rank_pattern`` value), so the
    recorded rank is the one served, and a config lying about it is refused before any model loads."""
    allowed = {info.rank, *(info.config.get("rank_pattern") or {}).values()}
    for key, shape in tensor_shapes(directory).items():
        match = _LAYER_RE.search(key)
        if not match or len(shape) != 2:
            continue
        rank = shape[0] if match.group(1) == "lora_A" else shape[1]
        if rank not in allowed:
            raise AdapterError(
                f"{directory}: tensor {key} has rank {rank}, but {CONFIG_NAME} says r={info.rank}"
            )


def weights_path(directory: Path) -> Path:
    """The adapter's weight file: safetensors if present, else the (opted-in) pickle."""
    safe = directory / WEIGHTS_NAME
    if safe.is_file():
        return safe
    for name in PICKLE_WEIGHTS:
        if (directory / name).is_file():
            return directory / name
    raise AdapterError(f"{directory} has no {WEIGHTS_NAME}")


def convert_pickle(source: Path, target: Path) -> None:
    """Rewrite an opted-in pickle adapter as safetensors (``weights_only`` refuses code in the pickle)."""
    import torch
    from safetensors.torch import save_file

    try:
        state = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise AdapterError(f"{source}: cannot read the pickle safely ({type(exc).__name__})") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise AdapterError(f"{source}: expected a dict of tensors")
    save_file({k: v.contiguous() for k, v in state.items()}, str(target), metadata={"format": "pt"})


_LAYER_RE = re.compile(r"\.(lora_A|lora_B)(?:\.[^.]+)?\.weight$")


def tensor_shapes(directory: Path) -> dict[str, tuple[int, ...]]:
    """Shapes of every tensor in the adapter's safetensors file, read from its header only."""
    from safetensors import safe_open

    try:
        with safe_open(str(directory / WEIGHTS_NAME), framework="numpy") as fh:  # header only, no torch
            return {key: tuple(fh.get_slice(key).get_shape()) for key in fh.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise AdapterError(f"{directory / WEIGHTS_NAME}: not a readable safetensors file ({exc})") from exc


def model_dims(config: dict[str, Any]) -> set[int]:
    """Feature sizes a transformer's linear layers can have, from its config."""
    hidden = config.get("hidden_size") or config.get("d_model") or config.get("n_embd")
    dims = {hidden} if hidden else set()
    for key in ("intermediate_size", "ffn_dim", "n_inner"):
        if config.get(key):
            dims.add(config[key])
    heads = config.get("num_attention_heads")
    if hidden and heads:
        head_dim = config.get("head_dim") or hidden // heads
        dims.add(heads * head_dim)
        dims.add((config.get("num_key_value_heads") or heads) * head_dim)
    return {int(d) for d in dims if d}


def check_shapes(directory: Path, base_config: dict[str, Any], rank: int | None = None) -> None:
    """Refuse an adapter whose LoRA matrices cannot fit the base model's layers."""
    dims = model_dims(base_config)
    if not dims:
        return
    for key, shape in tensor_shapes(directory).items():
        match = _LAYER_RE.search(key)
        if not match or len(shape) != 2:
            continue
        outer = shape[1] if match.group(1) == "lora_A" else shape[0]
        if outer not in dims:
            raise AdapterError(
                f"{directory}: tensor {key} has size {outer}, which no layer of the base model has "
                f"(sizes {sorted(dims)}): the adapter was made for another base model"
            )
