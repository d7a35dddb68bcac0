"""What routing buys: the routed system against the base, each expert alone and the oracle, per item.

The items are a mixed labelled set: every expert's domain test set (its dataset's ``test`` split), each
item labelled with its domain. Every model (base, each expert) scores every item (NLL per completion
token); then, per item:

* **routed**: the score of the expert the router picks from the item's query (its prompt, or the
  start of its text when it has no prompt);
* **oracle**: the score of the expert that did best on that item (a perfect per-item router);
* **best single**: the one expert with the lowest loss over all items (what you get without routing).

Per domain and overall, each column is total NLL / total tokens over the items every model scored.
The oracle is at most every single expert's loss by construction; where the routed system lands
between the best single expert and the oracle is what routing is worth.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from pydantic import BaseModel, Field

from .specs import TextExample

BASE = "base"
ROUTED = "routed"
ORACLE = "oracle"
OVERALL = "overall"
QUERY_CHARS = 300


class ItemLoss(NamedTuple):
    nll: float
    tokens: int


class GainRow(BaseModel):
    domain: str
    items: int
    loss: dict[str, float] = Field(description="Column -> NLL per completion token.")
    routed_to: dict[str, int] = Field(default_factory=dict, description="Expert -> items routed to it.")
    oracle_picks: dict[str, int] = Field(default_factory=dict, description="Expert -> items it won.")


class RoutingGain(BaseModel):
    """Rows: each domain, then ``overall``; columns: base, each expert, routed (if a router), oracle."""

    columns: list[str]
    rows: list[GainRow]
    best_single: str = Field(description="The expert with the lowest overall loss.")
    routed: bool = Field(description="Whether a router was available for the routed column.")


def item_losses(
    model: Any, tokenizer: Any, examples: Sequence[TextExample], max_length: int = 256, batch_size: int = 4
) -> list[ItemLoss | None]:
    """Per example (in order): summed NLL over its completion tokens (EOS included) and their count,
    labelled exactly as training labels them; None where truncation left no completion token."""
    import torch
    import torch.nn.functional as F

    from .datasets import CompletionCollator, encode_example, pad_id

    features = [encode_example(tokenizer, ex, max_length) for ex in examples]
    order = sorted(
        (i for i, f in enumerate(features) if f is not None), key=lambda i: len(features[i]["input_ids"])
    )
    collate = CompletionCollator(pad_id(tokenizer))
    device = next(model.parameters()).device
    out: list[ItemLoss | None] = [None] * len(examples)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = {k: v.to(device) for k, v in collate([features[i] for i in rows]).items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            labels = batch["labels"][:, 1:]
            nll = F.cross_entropy(
                logits[:, :-1].float().transpose(1, 2), labels, ignore_index=-100, reduction="none"
            ).sum(dim=1)
            counts = (labels != -100).sum(dim=1)
            for i, value, count in zip(rows, nll.tolist(), counts.tolist(), strict=True):
                out[i] = ItemLoss(value, int(count))
    return out


def per_token(losses: Sequence[ItemLoss]) -> float:
    tokens = sum(x.tokens for x in losses)
    return round(sum(x.nll for x in losses) / tokens, 5) if tokens else math.nan


def routing_gain(
    scored: dict[str, dict[str, list[ItemLoss | None]]],
    sets: dict[str, list[TextExample]],
    experts: Sequence[str],
    choose: Any = None,
) -> RoutingGain:
    """The table from per-item losses ``scored[model][domain]`` (models: base and ``experts``).

    ``choose(queries) -> expert per query`` is the router (None: no routed column)."""
    domains = list(sets)
    columns = [BASE, *experts, *([ROUTED] if choose else []), ORACLE]
    rows, everything = [], {c: [] for c in columns}
    for domain in domains:
        valid = [i for i in range(len(sets[domain])) if all(scored[m][domain][i] for m in [BASE, *experts])]
        cells = {m: [scored[m][domain][i] for i in valid] for m in [BASE, *experts]}
        winners = [min(experts, key=lambda e, i=i: _rate(scored[e][domain][i])) for i in valid]
        cells[ORACLE] = [scored[w][domain][i] for w, i in zip(winners, valid, strict=True)]
        row = GainRow(domain=domain, items=len(valid), loss={}, oracle_picks=_count(winners))
        if choose:
            picks = choose([_query(sets[domain][i]) for i in valid])
            cells[ROUTED] = [scored[p][domain][i] for p, i in zip(picks, valid, strict=True)]
            row.routed_to = _count(picks)
        row.loss = {c: per_token(cells[c]) for c in columns}
        rows.append(row)
        for c in columns:
            everything[c] += cells[c]
    overall = GainRow(
        domain=OVERALL, items=sum(r.items for r in rows), loss={c: per_token(everything[c]) for c in columns}
    )
    for r in rows:
        for key in ("routed_to", "oracle_picks"):
            for name, n in getattr(r, key).items():
                getattr(overall, key)[name] = getattr(overall, key).get(name, 0) + n
    best = min(experts, key=lambda e: overall.loss[e])
    return RoutingGain(columns=columns, rows=[*rows, overall], best_single=best, routed=bool(choose))


def _rate(loss: ItemLoss | None) -> float:
    return loss.nll / loss.tokens if loss and loss.tokens else math.inf


def _count(names: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name in names:
        out[name] = out.get(name, 0) + 1
    return out


def _query(example: TextExample) -> str:
    """What the router sees for an item: its prompt, or the start of its text when it has none."""
    return example.prompt.strip() or example.completion[:QUERY_CHARS]
