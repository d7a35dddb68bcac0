"""A MoLE plugin that registers a fifth expert: writing small Python functions."""

from __future__ import annotations

import json
from pathlib import Path

from mole_core import DatasetSpec, ExpertSpec, LoraDefaults, RoutingExamples, TextExample, hookimpl

DATA = Path(__file__).parent / "code_snippets.jsonl"
ROUTING = Path(__file__).parent / "routing.toml"


@hookimpl
def register_experts(register):
    register(
        ExpertSpec(
            name="code",
            task="Write and explain short Python functions.",
            lora=LoraDefaults(rank=16),  # alpha defaults to the rank; all Llama projections
            dataset="code-snippets",
            routing=RoutingExamples.from_file(ROUTING),  # a data file, not Python
        )
    )


def _load(split: str, limit: int | None, offline: bool):
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    cut = len(rows) * 4 // 5
    for row in rows[:cut] if split == "train" else rows[cut:]:
        yield TextExample(prompt=row["prompt"], completion=row["completion"])


@hookimpl
def register_datasets(register):
    register(
        DatasetSpec(
            name="code-snippets",
            description="Short Python tasks with solutions, written for this example plugin.",
            license="MIT",
            offline_source=DATA,
            loader=_load,
        )
    )
