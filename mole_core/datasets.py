"""Training data: named dataset plugins or local files, tokenised so the loss falls on completions only.

Two rules keep trained experts usable at inference:

* a prompt is framed with the tokenizer's chat template (user turn + generation prompt), exactly as
  :meth:`mole_core.runtime.MoLE.prompts` frames a query, so training sees what inference feeds;
* labels are masked (-100) by *position* — the prompt's length and the padding after each row — and
  never by comparing ids with ``pad_token_id``. SmolLM2's pad token is its EOS; masking by id would
  hide the EOS appended to every completion and the expert would never learn to stop.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .errors import DatasetError, MoleError, NotFoundError  # noqa: F401 - DatasetError re-exported
from .jsonl import objects, read_text
from .network import hub_reachable, resolve_offline  # noqa: F401 - re-exported for callers
from .specs import DEFAULT_TEMPLATE, TextExample, frame

log = logging.getLogger(__name__)

IGNORE_INDEX = -100
JSONL_SUFFIXES = {".jsonl", ".json", ".ndjson"}


class DataFileError(MoleError):
    """A local data file is missing, unreadable, or has a bad row (the message names file and line)."""


@dataclass(frozen=True)
class LoadedData:
    """Examples plus where they came from, for the training record."""

    examples: list[TextExample]
    name: str
    source: str


# -- named datasets and local files -----------------------------------------------------------------------
def load_named(
    name: str, split: str = "train", limit: int | None = None, offline: bool | None = None
) -> LoadedData:
    """Examples of a dataset plugin; offline reads its bundled sample."""
    from . import plugins

    spec = plugins.get_dataset_spec(name)
    offline = resolve_offline(offline)
    examples = spec.load(split, limit=limit, offline=offline)  # failures come back as one-line DatasetErrors
    source = (
        f"bundled sample ({spec.offline_source.name})"
        if offline and spec.offline_source
        else spec.hub_id or name
    )
    return LoadedData(examples, name, source)


def read_data_file(path: str | os.PathLike[str], limit: int | None = None) -> list[TextExample]:
    """A local file: JSONL rows with ``prompt``/``completion`` or ``text``, else blank-line-separated paragraphs."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"data file {path} does not exist")
    text = read_text(path, "data file", DataFileError)
    examples = _read_jsonl(path, text) if path.suffix.lower() in JSONL_SUFFIXES else _read_paragraphs(text)
    if not examples:
        raise DataFileError(f"{path}: no examples (expected JSONL rows or blank-line-separated paragraphs)")
    return examples[:limit] if limit is not None else examples


def _read_jsonl(path: Path, text: str) -> list[TextExample]:
    return [_parse_row(where, row) for where, row in objects(text.splitlines(), path, DataFileError)]


def _parse_row(where: str, row: dict[str, Any]) -> TextExample:
    if "completion" in row:
        fields = {"prompt": row.get("prompt", ""), "completion": row["completion"]}
    elif "text" in row:
        fields = {"completion": row["text"]}
    else:
        raise DataFileError(f"{where}: expected a 'completion' (with optional 'prompt') or a 'text' field")
    try:
        example = TextExample.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise DataFileError(f"{where}: field {err['loc'][0]!r}: {err['msg']}") from exc
    if not example.completion.strip():
        raise DataFileError(f"{where}: the completion is empty")
    return example


def _read_paragraphs(text: str) -> list[TextExample]:
    paragraphs = re.split(r"\n\s*\n", text.replace("\r\n", "\n"))
    return [TextExample(completion=p.strip()) for p in paragraphs if p.strip()]


def load_examples(
    dataset: str | None = None,
    data: str | os.PathLike[str] | None = None,
    *,
    split: str = "train",
    limit: int | None = None,
    offline: bool | None = None,
) -> LoadedData:
    """Examples from a local file (``data``) or a dataset plugin (``dataset``); the file wins."""
    if data is not None:
        examples = read_data_file(data, limit)
        return LoadedData(examples, str(data), f"file {data}")
    if dataset is None:
        raise NotFoundError("no dataset: give a dataset name or a data file")
    return load_named(dataset, split, limit, offline)


# -- tokenisation -----------------------------------------------------------------------------------------
def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def prompt_ids(tokenizer: Any, prompt: str) -> list[int]:
    """The prompt as inference sees it: chat-templated user turn, or the raw text with special tokens."""
    if not prompt:
        bos = getattr(tokenizer, "bos_token_id", None)
        return [bos] if bos is not None and tokenizer("", add_special_tokens=True)["input_ids"] else []
    if has_chat_template(tokenizer):
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
        )
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])
    return list(tokenizer(prompt, add_special_tokens=True)["input_ids"])


def encode_example(tokenizer: Any, example: TextExample, max_length: int) -> dict[str, list[int]] | None:
    """``input_ids`` and ``labels`` (prompt masked, completion + EOS kept); None when nothing is left to learn."""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise MoleError("the tokenizer has no EOS token, so an expert could not learn to stop")
    head = prompt_ids(tokenizer, example.prompt)
    completion = example.completion
    if example.prompt and not has_chat_template(tokenizer) and not completion[:1].isspace():
        completion = "\n" + completion  # the answer starts on its own line after a raw prompt
    tail = list(tokenizer(completion, add_special_tokens=False)["input_ids"]) + [eos]
    if len(head) >= max_length:
        head = head[-(max_length // 2) :] if max_length > 1 else []
    tail = tail[: max_length - len(head)]
    if not tail:
        return None
    return {"input_ids": head + tail, "labels": [IGNORE_INDEX] * len(head) + tail}


def framed(examples: Sequence[TextExample], template: str) -> list[TextExample]:
    """Prompts framed by an expert's prompt template, as the runtime frames its queries (so training and
    evaluation see what serving feeds); prompt-less texts are left as they are."""
    if template == DEFAULT_TEMPLATE:
        return list(examples)
    return [
        ex.model_copy(update={"prompt": frame(template, ex.prompt)}) if ex.prompt else ex for ex in examples
    ]


def encode_examples(
    tokenizer: Any, examples: list[TextExample], max_length: int
) -> list[dict[str, list[int]]]:
    """Encode every example, dropping (and counting) those with no completion token left."""
    out = [e for e in (encode_example(tokenizer, ex, max_length) for ex in examples) if e is not None]
    if len(out) < len(examples):
        log.warning(
            "%d of %d examples had no completion tokens within %d tokens; skipped",
            len(examples) - len(out),
            len(examples),
            max_length,
        )
    return out


@dataclass
class CompletionCollator:
    """Right-pads a batch; padding is masked in ``labels`` by length, so a pad id equal to EOS is harmless."""

    pad_token_id: int

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        input_ids = torch.full((len(features), width), self.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(features), width), dtype=torch.long)
        labels = torch.full((len(features), width), IGNORE_INDEX, dtype=torch.long)
        for row, feature in enumerate(features):
            n = len(feature["input_ids"])
            input_ids[row, :n] = torch.tensor(feature["input_ids"], dtype=torch.long)
            attention[row, :n] = 1
            labels[row, :n] = torch.tensor(feature["labels"], dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


def pad_id(tokenizer: Any) -> int:
    """The id used for padding inputs (never read back as a label)."""
    pad = tokenizer.pad_token_id
    return int(pad if pad is not None else tokenizer.eos_token_id)
