"""Checking a router directory before any plugin code reads it: every file against its sha256, and the
config against bounds, so a tampered or hostile router (from a pulled registry, say) is one line
instead of a traceback or gigabytes allocated for a model that cannot exist.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..adapters import checksum_mismatch, sha256_file
from ..errors import MoleError
from ..specs import Name
from .base import CONFIG_FILE, WEIGHTS_FILE

if TYPE_CHECKING:
    from ..manifest import RouterEntry

log = logging.getLogger("mole_core.routing")

MAX_LABELS = 4096
#: Top-level numbers of a router config are settings (hidden sizes, top-k, token limits): far below this.
MAX_SETTING = 1 << 16
#: Numbers inside a nested model config (``bert_config``, ``encoder_config``): vocabularies can be large.
MAX_NESTED = 1 << 20
#: BERT's defaults, which ``transformers`` fills in for keys a nested config leaves out.
_BERT_DEFAULTS = {
    "vocab_size": 30522,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "intermediate_size": 3072,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
}


class RouterConfig(BaseModel):
    """What every router's ``config.json`` holds; kinds add their own settings (checked for bounds)."""

    model_config = ConfigDict(extra="allow")

    kind: Name
    labels: list[Name | Literal["base"]] = Field(min_length=1, max_length=MAX_LABELS)
    """Expert names, and ``base``: the output a router learns from off-topic requests."""


def file_digests(directory: Path) -> dict[str, str]:
    """sha256 of every file below ``directory``, by POSIX path relative to it; links are refused, hidden
    files (a crash's half-written ``.config.json.*.tmp``) are no part of a router, as on a push."""

    digests: dict[str, str] = {}
    for path in sorted(Path(directory).rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(directory).parts):
            continue
        if path.is_symlink():
            raise MoleError(f"{path} is a symbolic link: a router directory holds plain files only")
        if path.is_file():
            digests[path.relative_to(directory).as_posix()] = sha256_file(path)
    return digests


def verify_router_files(directory: Path, entry: RouterEntry) -> None:
    """Every file in the router directory is one the manifest recorded, with its sha256 (config included);
    then the config is checked (:func:`check_config`). A manifest from before per-file checksums records
    the weights' sha256 only: that is checked, and the config's bounds still are."""
    directory = Path(directory)
    weights = directory / WEIGHTS_FILE
    where = f"router {entry.name}"
    if not weights.is_file():
        raise MoleError(f"{where}: {weights} is missing (retrain it with mole train-router)")
    if entry.files:
        actual = file_digests(directory)
        for name in sorted(set(actual) | set(entry.files)):
            if name not in entry.files:
                raise MoleError(f"{where}: {directory / name} is not a file the manifest records (remove it)")
            if name not in actual:
                raise MoleError(f"{where}: {directory / name} is missing (retrain it with mole train-router)")
            if actual[name] != entry.files[name]:
                raise MoleError(
                    f"{where}: checksum mismatch on {directory / name}: the file was modified or is corrupt; "
                    f"retrain it with mole train-router"
                )
    elif (
        actual_sha := checksum_mismatch(weights, entry.sha256)
    ) is not None:  # weights only: an older manifest
        raise MoleError(
            f"{where}: checksum mismatch on {weights} (manifest {entry.sha256[:12]}…, file {actual_sha[:12]}…): "
            f"the file was modified or is corrupt; retrain it with mole train-router"
        )
    check_config(directory)


def check_config(directory: Path, config: dict[str, Any] | None = None) -> RouterConfig:
    """The router's config, refused in one line when a key is missing or a number is out of bounds, or
    when a nested model config describes more parameters than the weights file could hold."""
    from ..adapters import read_json

    path = Path(directory) / CONFIG_FILE
    if config is None:
        if not path.is_file():
            raise MoleError(f"router directory {directory} has no {CONFIG_FILE}")
        config = read_json(path, MoleError)  # type: ignore[assignment]
    if not isinstance(config, dict):
        raise MoleError(f"{path}: expected a JSON object")
    try:
        parsed = RouterConfig.model_validate(config)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "config"
        raise MoleError(f"{path}: {field}: {err['msg'].removeprefix('Value error, ')}") from exc
    weights = Path(directory) / WEIGHTS_FILE
    weight_bytes = weights.stat().st_size if weights.is_file() else 0
    for key, value in config.items():
        if key != "labels":
            _check_value(path, key, value, MAX_SETTING, weight_bytes)
    return parsed


def _check_value(path: Path, key: str, value: Any, limit: int, weight_bytes: int) -> None:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or abs(value) > limit:
            raise MoleError(f"{path}: {key} = {value!r} is out of bounds (at most {limit})")
    elif isinstance(value, list):
        if len(value) > MAX_LABELS:
            raise MoleError(f"{path}: {key} has {len(value)} items (at most {MAX_LABELS})")
        for i, item in enumerate(value):
            _check_value(path, f"{key}[{i}]", item, limit, weight_bytes)
    elif isinstance(value, dict):
        for sub, item in value.items():
            _check_value(path, f"{key}.{sub}", item, MAX_NESTED, weight_bytes)
        if "hidden_size" in value or "num_hidden_layers" in value or "vocab_size" in value:
            _check_model_size(path, key, value, weight_bytes)


def _check_model_size(path: Path, key: str, config: dict[str, Any], weight_bytes: int) -> None:
    """A nested transformer config may not describe more float32 parameters than twice its weights file."""
    get = {k: int(config.get(k) or default) for k, default in _BERT_DEFAULTS.items()}
    hidden = get["hidden_size"]
    params = (get["vocab_size"] + get["max_position_embeddings"] + get["type_vocab_size"]) * hidden
    params += get["num_hidden_layers"] * (4 * hidden * hidden + 2 * hidden * get["intermediate_size"])
    if params * 4 > 2 * weight_bytes + (16 << 20):
        raise MoleError(
            f"{path}: {key} describes a model of {params * 4 / 1e9:.2f} GB, but {WEIGHTS_FILE} holds "
            f"{weight_bytes / 1e9:.3f} GB: the config does not belong to these weights"
        )


def load_checked(spec: Any, directory: Path, entry: RouterEntry) -> Any:
    """``spec.load(directory)``, with a plugin's own failure on a bad config named in one line."""
    try:
        return spec.load(directory)
    except MoleError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise MoleError(
            f"router {entry.name} in {directory} cannot be loaded ({type(exc).__name__}: {detail[:160]}): its "
            f"{CONFIG_FILE} is incomplete or from another version; retrain it with mole train-router"
        ) from exc
