"""Attaching a registered adapter to the base model, and detaching it again.

The weights file is read once: its bytes are checked against the manifest's sha256 and those same bytes
become the adapter's tensors, so a cold expert costs one read of its file and nothing swapped on disk
between the check and the load can slip in. The PEFT steps are those of ``PeftModel.load_adapter``
(config, ``add_adapter`` on the meta device, ``set_peft_model_state_dict``, dtype cast, eval mode), with
the tensors handed over instead of a path. A refused or failed attach leaves the model as it was.
"""

from __future__ import annotations

import hashlib
import logging
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import basemodel
from .adapters import CONFIG_NAME, WEIGHTS_NAME, read_adapter
from .errors import AdapterError
from .manifest import ExpertEntry
from .registry import Registry

log = logging.getLogger(__name__)


def verify_adapter(registry: Registry, entry: ExpertEntry) -> Path:
    """The adapter directory, after checking its weights against the manifest's sha256."""
    directory, _ = read_verified(registry, entry)
    return directory


def read_verified(registry: Registry, entry: ExpertEntry) -> tuple[Path, bytes]:
    """The adapter directory and its weight file's bytes, refused unless they match the sha256."""
    directory = registry.expert_dir(entry)
    weights = directory / WEIGHTS_NAME
    try:
        data = weights.read_bytes()
    except FileNotFoundError as exc:
        raise AdapterError(f"expert {entry.name!r}: {weights} is missing (run `mole validate`)") from exc
    except OSError as exc:
        raise AdapterError(f"expert {entry.name!r}: cannot read {weights} ({exc.strerror})") from exc
    if entry.sha256 is not None and hashlib.sha256(data).hexdigest() != entry.sha256:
        raise AdapterError(
            f"expert {entry.name!r}: {weights} does not match its sha256 (tampered or corrupt)"
        )
    # The sha256 covers the weights, not the config: re-read it (bounded ranks and alphas, no variant MoLE
    # cannot serve exactly) and hold it to the manifest, whose values were checked against these tensors.
    info = read_adapter(directory)
    if (info.rank, info.alpha, sorted(info.target_modules)) != (
        entry.rank,
        entry.alpha,
        sorted(entry.target_modules),
    ):
        raise AdapterError(
            f"expert {entry.name!r}: {directory / CONFIG_NAME} disagrees with the manifest "
            f"(rank, alpha or target modules changed; run `mole validate`)"
        )
    return directory, data


def attach_adapter(model: Any, registry: Registry, entry: ExpertEntry) -> Any:
    """Load ``entry``'s adapter into ``model`` under its name; the first turns the model into a PeftModel."""
    from peft import PeftModel

    directory, data = read_verified(registry, entry)  # also refuses a variant MoLE cannot serve exactly
    started = time.perf_counter()
    was_peft = isinstance(model, PeftModel)
    try:
        with basemodel.quiet_loading():
            model = _attach(model, directory, entry.name, data)
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        model = _undo(model, entry.name, was_peft)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AdapterError(
            f"expert {entry.name!r} does not fit base model {registry.load().base.id!r}: {first}"
        ) from exc
    log.debug("attached %s in %.3fs", entry.name, time.perf_counter() - started)
    return model


def attach_adapters(model: Any, registry: Registry, entries: Iterable[ExpertEntry]) -> Any:
    """Attach several adapters in turn (see :func:`attach_adapter`)."""
    for entry in entries:
        model = attach_adapter(model, registry, entry)
    return model


def detach_adapter(model: Any, name: str) -> None:
    """Delete adapter ``name`` from the PeftModel: its tensors are freed once nothing else holds them."""
    with warnings.catch_warnings():  # PEFT names the next active adapter; MoLE sets adapters per row
        warnings.filterwarnings("ignore", message=".*was active which is now deleted")
        model.delete_adapter(name)


def _attach(model: Any, directory: Path, name: str, data: bytes) -> Any:
    from peft import LoraConfig, PeftModel, set_peft_model_state_dict
    from safetensors.torch import load

    config = LoraConfig.from_pretrained(str(directory))
    config.inference_mode = True
    if isinstance(model, PeftModel):
        model._check_new_adapter_config(config, is_trainable=False)
        model.add_adapter(name, config, low_cpu_mem_usage=True)
    else:
        model = PeftModel(model, config, adapter_name=name, low_cpu_mem_usage=True)
    device = model.get_base_model().device
    weights = load(data)
    if device.type != "cpu":
        weights = {key: tensor.to(device) for key, tensor in weights.items()}
    result = set_peft_model_state_dict(model, weights, adapter_name=name, low_cpu_mem_usage=True)
    missing = [key for key in result.missing_keys if "lora_" in key and f".{name}." in key]
    if missing:
        raise ValueError(f"the adapter file lacks {missing[0]}")
    if hasattr(model.base_model, "_cast_adapter_dtype"):
        model.base_model._cast_adapter_dtype(adapter_name=name, autocast_adapter_dtype=True)
    model.eval()
    return model


def _undo(model: Any, name: str, was_peft: bool) -> Any:
    """Remove a half-attached adapter: the model goes back to what it was before the attempt."""
    from peft import PeftModel

    if not isinstance(model, PeftModel) or name not in model.peft_config:
        return model
    if not was_peft:
        return model.unload()
    model.delete_adapter(name)
    return model
