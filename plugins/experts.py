"""The four experts of the MoLE paper: a rank hierarchy over reasoning, knowledge, QA and factoids.

Ranks follow the paper (64/32/16/8, alpha = rank, dropout 0.1, every attention and MLP projection).
Unlike the paper, each expert names its own dataset, so experts 2-4 no longer train on identical rows.
Routing examples are data: ``data/routing/<expert>.toml``, read with ``RoutingExamples.from_file``.
"""

from __future__ import annotations

from pathlib import Path

from mole_core import ExpertSpec, LoraDefaults, RoutingExamples, hookimpl

ROUTING_DIR = Path(__file__).parent / "data" / "routing"

PAPER_EXPERTS = (
    ("reasoning", 64, "gsm8k", "Multi-step mathematical reasoning: word problems, equations, proofs."),
    (
        "knowledge",
        32,
        "wikitext-knowledge",
        "Analysis, comparison and argument about history, ideas and society.",
    ),
    ("qa", 16, "wikitext-qa", "Explanations: how and why things work or happen."),
    ("factoid", 8, "wikitext-factoid", "Short factual answers: who, what, when, where, how many."),
)


@hookimpl
def register_experts(register) -> None:  # noqa: ANN001 - pluggy passes the callback
    for name, rank, dataset, task in PAPER_EXPERTS:
        register(
            ExpertSpec(
                name=name,
                task=task,
                lora=LoraDefaults(rank=rank, alpha=rank, dropout=0.1),
                dataset=dataset,
                routing=RoutingExamples.from_file(ROUTING_DIR / f"{name}.toml"),
            )
        )
