"""What a plugin *declares*: experts, routers and datasets that can exist.

Specs are the catalogue; the manifest (:mod:`mole_core.manifest`) records adapters that do exist.
An expert spec need not be trained yet, and a registered adapter need not have a spec.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Protocol, runtime_checkable

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
LLAMA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
"""All attention and MLP projections of a Llama-style block: the paper's targets."""


def check_name(value: str, what: str = "name") -> str:
    """Names become directory names and CLI arguments: lower-case slugs only."""
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        raise ValueError(
            f"{what} {value!r} must be 1-64 characters of a-z, 0-9, '-', '_' or '.', starting with a letter or digit"
        )
    if value == "base":
        raise ValueError(f"{what} 'base' is reserved for the bare base model")
    return value


def require_name(value: str, what: str = "name", hint: str = "") -> str:
    """:func:`check_name` for a user's input: a bad name is a one-line ``MoleError`` (``hint`` appended)."""
    try:
        return check_name(value, what)
    except ValueError as exc:
        from .errors import MoleError

        raise MoleError(f"{exc}{hint}") from exc


Name = Annotated[
    str,
    AfterValidator(check_name),
    WithJsonSchema(
        {"type": "string", "pattern": NAME_RE.pattern, "not": {"const": "base"}, "maxLength": 64},
        mode="validation",
    ),
]
"""A validated expert, router or dataset name."""

QUERY_SLOT = "{query}"
DEFAULT_TEMPLATE = QUERY_SLOT


def check_prompt_template(value: str) -> str:
    """A prompt template frames a query for one expert: it must say where the query goes."""
    if not isinstance(value, str) or QUERY_SLOT not in value:
        raise ValueError(f"prompt template {value!r} must contain {QUERY_SLOT}")
    return value


def frame(template: str, query: str) -> str:
    """``query`` placed in ``template``; plain replacement, since queries and templates may hold braces."""
    return template.replace(QUERY_SLOT, query)


PromptTemplate = Annotated[
    str,
    AfterValidator(check_prompt_template),
    WithJsonSchema({"type": "string", "pattern": r"\{query\}"}, mode="validation"),
]
"""How a query is framed for an expert, with ``{query}`` where it goes; applied in training and serving."""


class LoraDefaults(BaseModel):
    """The LoRA hyper-parameters an expert is trained with unless the user overrides them."""

    model_config = ConfigDict(extra="forbid")

    rank: int = Field(gt=0, le=4096)
    alpha: float | None = Field(default=None, gt=0, description="Defaults to the rank (alpha = r).")
    dropout: float = Field(default=0.1, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: list(LLAMA_TARGETS), min_length=1)

    @model_validator(mode="after")
    def _alpha_defaults_to_rank(self) -> LoraDefaults:
        if self.alpha is None:
            self.alpha = float(self.rank)
        return self


class RoutingExamples(BaseModel):
    """What a router learns an expert from: templates with slot fillers, and/or plain example queries.

    ``templates`` use ``{slot}`` placeholders filled from ``slots``; templates are the unit of the
    held-out split, so a test query never shares a template with a training one.
    """

    model_config = ConfigDict(extra="forbid")

    templates: list[str] = Field(default_factory=list)
    slots: dict[str, list[str]] = Field(default_factory=dict)
    examples: list[str] = Field(default_factory=list)
    dataset_queries: bool = Field(
        default=False, description="Also use the prompts of the expert's dataset as real example queries."
    )

    @model_validator(mode="after")
    def _slots_cover_templates(self) -> RoutingExamples:
        for template in self.templates:
            for slot in re.findall(r"{(\w+)}", template):
                if not self.slots.get(slot):
                    raise ValueError(f"template {template!r} uses slot {slot!r} that has no fillers")
        return self

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> RoutingExamples:
        """Read routing examples from a TOML file (the format in docs/routing.md).

        Top-level keys: ``examples``, ``templates`` (lists of strings), ``dataset_queries`` (bool) and a
        ``[slots]`` table of filler lists. Plugins keep their examples as such files, next to their code.
        """
        from .errors import MoleError

        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise MoleError(f"routing examples file {path} does not exist") from exc
        except UnicodeDecodeError as exc:
            raise MoleError(f"{path}: not UTF-8 text") from exc
        except tomllib.TOMLDecodeError as exc:
            raise MoleError(f"{path}: invalid TOML ({exc})") from exc
        except OSError as exc:
            raise MoleError(f"{path}: cannot read ({exc.strerror})") from exc
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "file"
            detail = first["msg"].removeprefix("Value error, ")
            raise MoleError(f"{path}: {where}: {detail}") from exc


class ExpertSpec(BaseModel):
    """An expert a plugin offers: its task, LoRA defaults, data and routing examples."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    task: str = Field(min_length=1, description="One sentence: what the expert is for.")
    lora: LoraDefaults
    dataset: str | None = Field(default=None, description="Name of a registered dataset spec.")
    prompt_template: PromptTemplate = Field(
        default=DEFAULT_TEMPLATE,
        description="How a query is framed for this expert, in training and serving.",
    )
    routing: RoutingExamples = Field(default_factory=RoutingExamples)
    plugin: str | None = Field(default=None, description="Set by the plugin manager.")


class TextExample(BaseModel):
    """One training or evaluation example for a causal LM: the loss is taken on ``completion``."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = ""
    completion: str


@runtime_checkable
class DatasetLoader(Protocol):
    def __call__(self, split: str, limit: int | None, offline: bool) -> Iterator[TextExample]: ...


def _same_text(predicted: str | None, reference: str) -> bool:
    return predicted is not None and predicted.strip() == reference.strip()


class AnswerCheck(BaseModel):
    """How ``mole eval`` scores generated answers on a dataset by exact match: the reference's final
    answer, the model's, and whether they are the same (default: equal after stripping spaces)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    reference: Callable[[str], str] = Field(description="completion -> its final answer", exclude=True)
    predict: Callable[[str], str | None] = Field(
        description="model output -> its final answer (None: none found)", exclude=True
    )
    match: Callable[[str | None, str], bool] = Field(default=_same_text, exclude=True)
    description: str = ""


class DatasetSpec(BaseModel):
    """A dataset a plugin offers: where it lives on the Hub and how to read it offline."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    name: Name
    description: str = ""
    hub_id: str | None = None
    hub_config: str | None = None
    license: str = ""
    splits: list[str] = Field(default_factory=lambda: ["train", "test"])
    offline_source: Path | None = Field(default=None, description="Bundled files used when offline.")
    loader: Callable[..., Any] = Field(
        description="loader(split, limit, offline) -> iterable of TextExample", exclude=True
    )
    answers: AnswerCheck | None = Field(
        default=None, description="Exact-match scoring of generated answers (`mole eval --n-answers`)."
    )
    loss_variants: dict[str, Callable[[str], str]] = Field(
        default_factory=dict,
        description="Extra held-out loss columns `<dataset>-<name>`: completions rewritten by the function.",
        exclude=True,
    )
    lm_eval_tasks: Path | None = Field(
        default=None,
        description="A folder of lm-evaluation-harness task YAMLs over this data (`mole eval --tasks`).",
    )
    plugin: str | None = None

    def load(self, split: str = "train", limit: int | None = None, offline: bool = True) -> list[TextExample]:
        """Read up to ``limit`` examples of ``split``; ``offline`` uses the bundled sample."""
        if split not in self.splits:
            from .errors import NotFoundError

            raise NotFoundError(
                f"dataset {self.name!r} has no split {split!r} (it has {', '.join(self.splits)})"
            )
        from .errors import DatasetError, MoleError

        out: list[TextExample] = []
        try:
            for example in self.loader(split, limit, offline):
                out.append(
                    example if isinstance(example, TextExample) else TextExample.model_validate(example)
                )
                if limit is not None and len(out) >= limit:
                    break
        except MoleError:
            raise
        except (
            Exception
        ) as exc:  # a plugin's bug or an unreachable Hub is named, not a traceback for the user
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if not out:  # nothing read at all: most likely the source itself (network, missing file)
                where = "its bundled sample" if offline else f"the Hub ({self.hub_id or self.name})"
                hint = "" if offline else "; try --offline for the bundled sample"
                raise DatasetError(
                    f"cannot load dataset {self.name!r} (plugin {self.plugin or '?'}) from {where}: {detail}{hint}"
                ) from exc
            raise DatasetError(
                f"dataset {self.name!r} (plugin {self.plugin or '?'}) failed on example {len(out) + 1}: {detail}"
            ) from exc
        return out


class RouterSpec(BaseModel):
    """A router kind a plugin offers: how to build a fresh one and how to load a saved one."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    name: Name
    description: str = ""
    build: Callable[..., Any] = Field(description="build(labels, **options) -> Router", exclude=True)
    load: Callable[..., Any] = Field(description="load(directory) -> Router", exclude=True)
    needs_training: bool = True
    plugin: str | None = None


class ClaimSpec(BaseModel):
    """A published figure a plugin cites, printed by the command named in ``topic`` beside the measured one."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    topic: str = Field(min_length=1, description="The command that prints it, e.g. 'memory'.")
    text: str = Field(min_length=1, description="One line, as the command should print it.")
    source: str = ""
    plugin: str | None = None
