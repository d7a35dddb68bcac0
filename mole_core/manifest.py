"""The registry manifest (``mole.toml``): what adapters *do* exist, where, and with which checksums.

Pydantic models are the single source of truth; ``registry/schema.json`` is generated from them
(``mole schema > registry/schema.json``).
"""

from __future__ import annotations

import json
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .adapters import MAX_ALPHA, MAX_RANK
from .errors import ManifestError
from .specs import DEFAULT_TEMPLATE, Name, PromptTemplate

MANIFEST_NAME = "mole.toml"
SCHEMA_VERSION = 1
SHA256_PATTERN = r"^[0-9a-f]{64}$"


#: Where entries live: ``experts/NAME`` (``routers/KIND``), or ``experts/NAME@VERSION`` once replaced, so a
#: replacement is written beside the old directory and the manifest switches to it in one rename.
EXPERTS_DIR = "experts"
ROUTERS_DIR = "routers"
_VERSION_RE = re.compile(r"^[0-9a-f]{1,32}$")


def entry_path(parent: str, name: str, version: str | None = None) -> str:
    """The registry-relative directory of entry ``name`` (``version`` for a replacement)."""
    return f"{parent}/{name}" + (f"@{version}" if version else "")


def _entry_pattern(parent: str) -> str:
    """The JSON Schema side of :func:`check_entry_path` (which also ties the directory to the name)."""
    return f"^{parent}/[a-z0-9][a-z0-9_.-]{{0,63}}(@[0-9a-f]{{1,32}})?$"


def check_entry_path(path: object, parent: str, name: str) -> str:
    """Refuse any path but ``PARENT/NAME`` or ``PARENT/NAME@VERSION``: each entry owns exactly one
    directory of its own, so removing or replacing it can never touch the registry or another entry."""
    expected = entry_path(parent, name)
    if isinstance(path, str) and "/" in path:
        head, _, leaf = path.partition("/")
        own, _, version = leaf.partition("@")
        if head == parent and own == name and (leaf == name or _VERSION_RE.match(version)):
            return path
    raise ValueError(
        f"{path!r} must be {expected!r} (its own directory inside {parent}/), "
        f"not a path shared with the registry or another entry"
    )


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class BaseModelRef(_Model):
    """The frozen base model every adapter in the registry was trained on."""

    id: str = Field(min_length=1, description="Hub id (org/name) or local path of the base model.")
    revision: str | None = Field(default=None, description="Hub revision (branch, tag or commit).")
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"


class HubLocation(_Model):
    """Where an adapter lives on the Hugging Face Hub."""

    repo_id: str = Field(min_length=1)
    revision: str = "main"
    subfolder: str | None = None
    commit: str | None = Field(default=None, description="Commit sha of the last push or pull.")


class TrainingRecord(_Model):
    """How an adapter was trained, when MoLE trained it."""

    dataset: str | None = None
    examples: int | None = None
    steps: int | None = None
    epochs: float | None = None
    learning_rate: float | None = None
    final_loss: float | None = None
    seconds: float | None = None
    settings: dict[str, Any] = Field(default_factory=dict)


class ExpertEntry(_Model):
    """One registered LoRA adapter."""

    name: Name
    task: str = ""
    rank: int = Field(gt=0, le=MAX_RANK)
    alpha: float = Field(gt=0, le=MAX_ALPHA, allow_inf_nan=False)
    target_modules: list[str] = Field(min_length=1)
    base_model: str = Field(description="The base model the adapter was made for.")
    plugin: str | None = Field(default=None, description="Plugin whose expert spec this adapter implements.")
    path: str = Field(
        description="Adapter directory, relative to the registry: experts/NAME, or experts/NAME@VERSION.",
        json_schema_extra={"pattern": _entry_pattern(EXPERTS_DIR)},
    )
    hub: HubLocation | None = None
    sha256: str | None = Field(
        default=None, pattern=SHA256_PATTERN, description="Of adapter_model.safetensors."
    )
    examples: list[str] = Field(
        default_factory=list, description="Example queries, for routing without training."
    )
    prompt_template: PromptTemplate = Field(
        default=DEFAULT_TEMPLATE,
        description="How a query is framed for this expert ({query} marks where); training used it, serving applies it.",
    )
    training: TrainingRecord | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @field_validator("path")
    @classmethod
    def _own_directory(cls, value: str, info: ValidationInfo) -> str:
        return check_entry_path(value, EXPERTS_DIR, info.data.get("name", "NAME"))


class RouterEntry(_Model):
    """The trained router the runtime loads."""

    name: Name = Field(description="Router kind, as registered by a plugin (e.g. bert-tiny).")
    path: str = Field(
        description="Router directory, relative to the registry: routers/KIND, or routers/KIND@VERSION.",
        json_schema_extra={"pattern": _entry_pattern(ROUTERS_DIR)},
    )
    labels: list[str] = Field(
        min_length=1, description="Expert names (and 'base' for off-topic), in the router's output order."
    )
    sha256: str | None = Field(default=None, pattern=SHA256_PATTERN, description="Of model.safetensors.")
    files: dict[str, str] = Field(
        default_factory=dict,
        description="sha256 of every file in the router directory (config.json included), by relative path.",
    )
    temperature: float = Field(default=1.0, gt=0, description="Calibration fitted on held-out queries.")
    min_confidence: float = Field(
        default=0.0, ge=0, le=1, description="Below this calibrated score a query goes to the base model."
    )
    metrics: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)

    @field_validator("path")
    @classmethod
    def _own_directory(cls, value: str, info: ValidationInfo) -> str:
        return check_entry_path(value, ROUTERS_DIR, info.data.get("name", "KIND"))

    @field_validator("files")
    @classmethod
    def _plain_names(cls, value: dict[str, str]) -> dict[str, str]:
        for filename, sha in value.items():
            parts = filename.split("/")
            if "\\" in filename or "\0" in filename or any(not p or p.startswith(".") for p in parts):
                raise ValueError(
                    f"{filename!r} is not a plain relative file path inside the router directory"
                )
            if not re.match(SHA256_PATTERN, sha):
                raise ValueError(f"{filename!r}: sha256 must be 64 hex digits")
        return value


class Manifest(_Model):
    """The whole registry: one base model, one router, any number of experts."""

    schema_version: int = Field(
        default=SCHEMA_VERSION,
        ge=1,
        json_schema_extra={"maximum": SCHEMA_VERSION},
        description="Manifest format version; a newer one than this MoLE knows is refused.",
    )
    base: BaseModelRef
    router: RouterEntry | None = None
    experts: list[ExpertEntry] = Field(
        default_factory=list,
        description="The registered adapters; names are unique (checked by the loader: JSON Schema cannot say it).",
    )

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value > SCHEMA_VERSION:
            raise ValueError(f"schema version {value} is newer than this MoLE understands ({SCHEMA_VERSION})")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> Manifest:
        seen: set[str] = set()
        for i, expert in enumerate(self.experts):
            if expert.name in seen:
                raise ValueError(f"experts[{i}].name: duplicate expert name {expert.name!r}")
            seen.add(expert.name)
        return self

    def expert(self, name: str) -> ExpertEntry | None:
        return next((e for e in self.experts if e.name == name), None)

    def names(self) -> list[str]:
        return [e.name for e in self.experts]

    # -- TOML ---------------------------------------------------------------------------------------
    def to_toml(self) -> str:
        data = self.model_dump(mode="json", exclude_none=True)
        return tomli_w.dumps(data)

    @classmethod
    def from_toml(cls, text: str, path: str | Path = MANIFEST_NAME) -> Manifest:
        """Parse and validate; any problem is a :class:`ManifestError` naming the file and field."""
        return cls.from_data(parse_toml(text, path), path)

    @classmethod
    def from_data(cls, data: Any, path: str | Path = MANIFEST_NAME) -> Manifest:
        try:
            return cls.model_validate(data)
        except RecursionError as exc:
            raise ManifestError(path, None, "nested too deeply") from exc
        except ValidationError as exc:
            field, message = describe_validation_error(exc, data)
            raise ManifestError(path, field, message) from exc

    @classmethod
    def read(cls, path: Path) -> Manifest:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ManifestError(path, None, "not UTF-8 text") from exc
        except OSError as exc:
            raise ManifestError(path, None, f"cannot read it ({exc.strerror})") from exc
        return cls.from_toml(text, path)


def parse_toml(text: str, path: str | Path = MANIFEST_NAME) -> dict[str, Any]:
    """TOML text as data. ``rtoml`` (Rust) parses a 1,000-expert manifest (~0.5 MB) ~7x faster than
    ``tomllib``, which every ``mole list``/``show`` would otherwise pay; a document it refuses is parsed
    again by ``tomllib``, whose messages name the line, for the error."""
    try:
        import rtoml
    except ImportError:  # pragma: no cover - rtoml is a dependency; tomllib is the fallback
        rtoml = None
    if rtoml is not None:
        try:
            return rtoml.loads(text)
        except Exception:  # noqa: BLE001 - reported below with tomllib's message
            pass
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(path, None, f"invalid TOML: {exc}") from exc
    except RecursionError as exc:
        raise ManifestError(path, None, "invalid TOML: nested too deeply") from exc


def describe_validation_error(exc: ValidationError, data: Any = None) -> tuple[str | None, str]:
    """The first error as (dotted field, message), naming the expert rather than its index."""
    err = exc.errors()[0]
    loc = list(err.get("loc", ()))
    parts: list[str] = []
    node = data
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            item = node[part]
            name = item.get("name") if isinstance(item, dict) else None
            parts[-1] = (
                f"{parts[-1]}[{part}]" + (f" ({name})" if isinstance(name, str) else "")
                if parts
                else str(part)
            )
            node = item
            continue
        parts.append(str(part))
        node = node.get(part) if isinstance(node, dict) else None
    message = err["msg"]
    if err.get("type") == "extra_forbidden":
        message = "unknown field"
    elif err.get("type") == "missing":
        message = "required field is missing"
    message = message.removeprefix("Value error, ")
    if "duplicate expert name" in message and not parts:
        field, _, message = message.partition(": ")
        return field, message
    return (".".join(parts) or None), message


def json_schema() -> dict[str, Any]:
    """The manifest's JSON Schema, generated from the pydantic models (the one source of truth). It
    describes the JSON form: TOML datetimes are RFC 3339 strings there (see :func:`json_form`)."""
    schema = Manifest.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "MoLE registry manifest (mole.toml)"
    schema["$comment"] = (
        "Generated from mole_core.manifest (mole schema). Datetimes are RFC 3339 strings; expert names must "
        "also be unique, and each entry's path must be its own directory (experts/NAME[@VERSION] for the "
        "expert NAME, routers/KIND[@VERSION] for the router), which the loader checks and JSON Schema "
        "cannot express."
    )
    return schema


def json_form(data: Any) -> Any:
    """Parsed TOML as JSON data (datetimes as RFC 3339 strings): what :func:`json_schema` describes."""
    if isinstance(data, dict):
        return {k: json_form(v) for k, v in data.items()}
    if isinstance(data, list):
        return [json_form(v) for v in data]
    if isinstance(data, datetime):
        return data.isoformat().replace("+00:00", "Z")
    return data


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
