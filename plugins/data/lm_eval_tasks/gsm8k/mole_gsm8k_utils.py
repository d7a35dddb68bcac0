"""Datasets for the bundled GSM8K tasks, read from the sample shipped with MoLE's built-in plugins
(``plugins/data/gsm8k_*.jsonl``), so they run with no network. lm-eval calls ``custom_dataset``."""

from __future__ import annotations

import json
from pathlib import Path

import datasets

DATA = Path(__file__).resolve().parents[2]
CHOICES = 4


def _rows(name: str) -> list[dict]:
    text = (DATA / name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def load_generation(**kwargs: object) -> datasets.DatasetDict:
    """Question and worked answer (ending in ``#### N``), as upstream lm-eval's ``gsm8k`` reads them."""
    return datasets.DatasetDict(
        {split: datasets.Dataset.from_list(_rows(f"gsm8k_{split}.jsonl")) for split in ("train", "test")}
    )


def with_choices(rows: list[dict]) -> list[dict]:
    """Each question with four worked solutions: its own and those of the next three problems with a
    different final answer (deterministic), the own one at position ``index % 4``."""
    out = []
    for i, row in enumerate(rows):
        final = row["answer"].rsplit("####", 1)[-1].strip()
        others: list[str] = []
        for step in range(1, len(rows)):
            other = rows[(i + step) % len(rows)]["answer"]
            if other.rsplit("####", 1)[-1].strip() != final and other not in others:
                others.append(other)
            if len(others) == CHOICES - 1:
                break
        gold = i % CHOICES
        out.append(
            {
                "question": row["question"],
                "choices": others[:gold] + [row["answer"]] + others[gold:],
                "gold": gold,
            }
        )
    return out


def load_multiple_choice(**kwargs: object) -> datasets.DatasetDict:
    """Which of four worked solutions answers the question (scored by loglikelihood)."""
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_list(with_choices(_rows(f"gsm8k_{split}.jsonl")))
            for split in ("train", "test")
        }
    )
