"""Route by similarity to each expert's example queries: no training, so a new expert routes at once.

Every example is embedded with the packaged MiniLM-L6 sentence encoder (mean pooling, unit length).
A query's score for an expert is the mean cosine similarity of its ``top_k`` most similar examples of
that expert; a softmax with ``temperature`` turns scores into probabilities. ``fit`` simply replaces
the example bank with the given (query, expert) pairs, which makes it a k-nearest-neighbour router.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from mole_core.errors import MoleError
from mole_core.routing import BASE, Progress, Router

from ._classifier import MINILM_PACKAGE, encode, label_ids, load_minilm, load_router_files, save_router

log = logging.getLogger(__name__)

KIND = "embedding"
DEFAULT_TEMPERATURE = 0.05
DEFAULT_TOP_K = 5


class EmbeddingRouter(Router):
    """Nearest expert by MiniLM similarity to its example queries."""

    kind = KIND
    fits_from_scratch = True

    def __init__(
        self,
        labels: Sequence[str],
        examples: Mapping[str, Sequence[str]] | None = None,
        *,
        temperature: float = DEFAULT_TEMPERATURE,
        top_k: int = DEFAULT_TOP_K,
        batch_size: int = 64,
    ) -> None:
        super().__init__(labels)
        if temperature <= 0:
            raise MoleError(f"temperature must be positive, got {temperature}")
        if top_k < 1:
            raise MoleError(f"top_k must be at least 1, got {top_k}")
        self.temperature = float(temperature)
        self.top_k = int(top_k)
        self.batch_size = batch_size
        self.tokenizer, self.encoder = load_minilm()
        self.bank = torch.empty(0, self.encoder.config.hidden_size)
        self.bank_labels = torch.empty(0, dtype=torch.long)
        self._groups: tuple[tuple[Any, ...], torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        if examples:
            self._add_many(examples)

    def _encode(self, queries: Sequence[str], progress: Progress | None = None) -> torch.Tensor:
        return encode(self.tokenizer, self.encoder, queries, batch_size=self.batch_size, progress=progress)

    def add_examples(self, name: str, texts: Sequence[str]) -> None:
        """Let the router route to ``name`` (appended to ``labels`` if new) by these example queries."""
        self._add_many({name: texts})

    def _add_many(self, examples: Mapping[str, Sequence[str]]) -> None:
        """Add several experts' examples with one batched encode and one concatenation (a router over a
        thousand experts is built in one pass, not a thousand growing copies of the bank)."""
        index = {label: i for i, label in enumerate(self.labels)}
        texts: list[str] = []
        ids: list[int] = []
        for name, given in examples.items():
            kept = [t for t in given if t.strip()]
            if not kept:
                raise MoleError(f"expert {name!r} needs at least one example query to be routed to")
            if name not in index:
                index[name] = len(self.labels)
                self.labels.append(name)
            texts += kept
            ids += [index[name]] * len(kept)
        self.bank = torch.cat([self.bank, self._encode(texts)])
        self.bank_labels = torch.cat([self.bank_labels, torch.tensor(ids, dtype=torch.long)])

    def fit(
        self,
        queries: Sequence[str],
        labels: Sequence[str],
        *,
        top_k: int | None = None,
        progress: Progress | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        """Replace the example bank with these labelled queries (nothing is optimised).

        A large bank is noisier per neighbour, so ``top_k`` grows with it (one per 50 examples of the
        smallest expert, between 5 and 50) unless given.
        """
        targets = label_ids(self.labels, labels)
        self.bank = self._encode(queries, progress=progress)
        self.bank_labels = targets
        smallest = min(int((targets == i).sum()) for i in range(len(self.labels)))
        self.top_k = top_k or min(50, max(DEFAULT_TOP_K, smallest // 50))
        return {"examples": len(queries), "top_k": self.top_k, "final_loss": None}

    @torch.no_grad()
    def scores(self, queries: Sequence[str]) -> torch.Tensor:
        """Per expert, the mean cosine similarity of the query's ``top_k`` nearest examples of that expert.

        Vectorised over experts: the bank's rows are grouped per expert once (``[experts, most
        examples]``, padded), so a query batch costs one gather and one ``topk`` whatever the number
        of experts, instead of a Python loop with a mask over the whole bank per expert."""
        index, valid, counts = self._grouping()
        sims = self._encode(queries) @ self.bank.T
        k = min(self.top_k, index.shape[1])
        take = counts.clamp(max=self.top_k)  # examples averaged per expert
        if BASE in self.labels and len(self.labels) > 1:
            # 'base' averages no more neighbours than the smallest expert, so an expert with three examples
            # is not outscored by hundreds of off-topic requests merely for having fewer good matches
            i = self.labels.index(BASE)
            take[i] = min(int(take[i]), min(int(c) for j, c in enumerate(take) if j != i))
        keep = torch.arange(k) < take[:, None]  # [experts, k]
        out = torch.empty(len(queries), len(self.labels))
        step = max(1, 8_000_000 // max(1, index.numel()))  # bound the [queries, experts, examples] gather
        for start in range(0, len(queries), step):
            grouped = sims[start : start + step, index].masked_fill(~valid, float("-inf"))
            top = grouped.topk(k, dim=2).values.masked_fill(~keep, 0.0)
            out[start : start + step] = top.sum(2) / take
        return out

    def _grouping(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Bank row indices per expert (``[experts, most]``, padded), which are real, and counts."""
        labels = self.bank_labels  # the key holds the tensor itself, so its identity cannot be reused
        key = (labels, labels._version, len(self.labels))
        cached = self._groups
        if cached is not None and cached[0][0] is labels and cached[0][1:] == key[1:]:
            return self._groups[1:]
        counts = torch.bincount(self.bank_labels, minlength=len(self.labels))
        missing = [self.labels[i] for i in (counts == 0).nonzero().flatten().tolist()]
        if missing:
            raise MoleError(f"embedding router has no examples for {', '.join(missing)}")
        order = torch.argsort(self.bank_labels, stable=True)
        starts = torch.cumsum(counts, 0) - counts
        slot = torch.arange(int(counts.max()))
        valid = slot < counts[:, None]
        index = order[(starts[:, None] + slot).clamp(max=len(order) - 1)]
        self._groups = (key, index, valid, counts)
        return index, valid, counts

    def predict(self, queries: Sequence[str]) -> list[list[float]]:
        if not queries:
            return []
        return torch.softmax(self.scores(queries) / self.temperature, dim=1).tolist()

    def tensors(self) -> list[torch.Tensor]:
        return [self.bank, self.bank_labels, *self.encoder.parameters(), *self.encoder.buffers()]

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "encoder": MINILM_PACKAGE,
            "temperature": self.temperature,
            "top_k": self.top_k,
            "examples": len(self.bank_labels),
        }

    def save(self, directory: Path) -> None:
        save_router(Path(directory), self.config(), {"bank": self.bank, "bank_labels": self.bank_labels})


def build(labels: Sequence[str], **options: Any) -> EmbeddingRouter:
    """A router over ``labels``; ``examples={name: [query, ...]}`` gives each expert its examples."""
    options.pop("seed", None)
    return EmbeddingRouter(labels, **options)


def load(directory: Path) -> EmbeddingRouter:
    config, tensors = load_router_files(Path(directory), KIND)
    router = EmbeddingRouter(config["labels"], temperature=config["temperature"], top_k=config["top_k"])
    bank, bank_labels = tensors.get("bank"), tensors.get("bank_labels")
    if bank is None or bank_labels is None or bank.shape[0] != bank_labels.shape[0]:
        raise MoleError(f"{directory}: model.safetensors lacks a consistent 'bank' and 'bank_labels'")
    if bank.shape[1] != router.encoder.config.hidden_size:
        raise MoleError(
            f"{directory}: example embeddings have {bank.shape[1]} dimensions, the encoder {router.encoder.config.hidden_size}"
        )
    if bank_labels.numel() and int(bank_labels.max()) >= len(router.labels):
        raise MoleError(
            f"{directory}: example labels point past the {len(router.labels)} experts in config.json"
        )
    router.bank, router.bank_labels = bank.float(), bank_labels.long()
    return router
