"""A MoLE plugin that registers a fifth expert: writing small Python functions."""

from __future__ import annotations

import json
from pathlib import Path

from mole_core import DatasetSpec, ExpertSpec, LoraDefaults, RoutingExamples, TextExample, hookimpl

DATA = Path(__file__).parent / "code_snippets.jsonl"


@hookimpl
def register_experts(register):
    register(
        ExpertSpec(
            name="code",
            task="Write and explain short Python functions.",
            lora=LoraDefaults(rank=16),  # alpha defaults to the rank; all Llama projections
            dataset="code-snippets",
            routing=RoutingExamples(
                templates=[
                    "Write a Python function that {task}.",
                    "How do I {task} in Python?",
                    "Fix this Python code: {snippet}",
                    "What does this Python code do: {snippet}",
                    "Implement {algorithm} in Python.",
                ],
                slots={
                    "task": [
                        "reverses a string",
                        "reads a CSV file",
                        "merges two sorted lists",
                        "counts words in a file",
                        "removes duplicates from a list",
                    ],
                    "snippet": [
                        "for i in range(10) print(i)",
                        "def f(x): return x +",
                        "x = [1, 2, 3].sort()",
                    ],
                    "algorithm": ["binary search", "quicksort", "a linked list", "depth-first search"],
                },
                examples=[
                    "Write a Python function to check whether a number is prime.",
                    "How do I read a JSON file in Python?",
                ],
            ),
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
