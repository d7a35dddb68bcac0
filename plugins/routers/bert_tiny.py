"""The paper's router: a BERT-tiny sequence classifier (2 layers, hidden 128, 2 heads, 4.4M parameters).

With Hub access it starts from ``prajjwal1/bert-tiny`` (safetensors only); offline it builds the same
architecture from the paper's config. Offline initialisation (``init``):

- ``minilm`` (default offline): random transformer layers, but word embeddings taken from the packaged
  MiniLM-L6 encoder (same 30,522-word uncased vocabulary) projected to 128 dimensions by PCA, so the
  router starts knowing which words are alike;
- ``random``: the paper's random initialisation.

The tokenizer (BERT uncased wordpieces) is saved inside the router directory, so a saved router is
self-contained.
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
    label_ids,
    length_batches,
    load_router_files,
    load_state,
    load_tokenizer,
    minilm_path,
    save_router,
    seed_everything,
    tokenize,
    torch_threads,
    train_loop,
)

log = logging.getLogger(__name__)

KIND = "bert-tiny"
HUB_ID = "prajjwal1/bert-tiny"
TOKENIZER_DIR = "tokenizer"

PAPER_CONFIG: dict[str, Any] = {
    "model_type": "bert",
    "vocab_size": 30522,
    "hidden_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 512,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
}
"""prajjwal1/bert-tiny's architecture, as recorded in the paper's router config.json."""
INITS = ("auto", "hub", "minilm", "random")


def _offline() -> bool:
    from mole_core.network import resolve_offline

    return resolve_offline(None)


def _config(labels: Sequence[str], base: dict[str, Any] | None = None) -> Any:
    from transformers import BertConfig

    config = BertConfig(**{**PAPER_CONFIG, **(base or {})})
    config.num_labels = len(labels)
    config.id2label = dict(enumerate(labels))
    config.label2id = {name: i for i, name in enumerate(labels)}
    config.problem_type = "single_label_classification"
    return config


def _from_hub(labels: Sequence[str]) -> tuple[Any, Any] | None:
    """prajjwal1/bert-tiny and its tokenizer, or None when the Hub (or a safetensors copy) is out of reach."""
    if _offline():
        return None
    try:
        from transformers import AutoTokenizer, BertForSequenceClassification

        model = BertForSequenceClassification.from_pretrained(
            HUB_ID, config=_config(labels), use_safetensors=True, trust_remote_code=False
        )
        return AutoTokenizer.from_pretrained(HUB_ID), model
    except Exception as exc:  # no network, no safetensors weights, ...: fall back to the offline build
        log.warning(
            "could not load %s from the Hub (%s); building it offline", HUB_ID, str(exc).splitlines()[0]
        )
        return None


def _minilm_embeddings(dim: int) -> torch.Tensor:
    """MiniLM's word embeddings projected onto their top ``dim`` principal directions (std matched to BERT init)."""
    from safetensors import safe_open

    with safe_open(str(minilm_path() / "model.safetensors"), framework="pt") as weights:
        key = next(k for k in weights.keys() if k.endswith("embeddings.word_embeddings.weight"))  # noqa: SIM118
        table = weights.get_tensor(key).float()
    centred = table - table.mean(0)
    _, _, v = torch.linalg.svd(centred[torch.randperm(len(centred))[:8000]], full_matrices=False)
    projected = centred @ v[:dim].T
    return projected * (PAPER_CONFIG["initializer_range"] / projected.std())


class BertTinyRouter(Router):
    """BertForSequenceClassification over the registry's expert names."""

    kind = KIND

    def __init__(
        self, labels: Sequence[str], *, init: str = "auto", seed: int = 0, _empty: bool = False
    ) -> None:
        super().__init__(labels)
        from transformers import BertForSequenceClassification

        if init not in INITS:
            raise MoleError(f"bert-tiny init must be one of {', '.join(INITS)}, got {init!r}")
        seed_everything(seed)
        loaded = None if _empty or init not in ("auto", "hub") else _from_hub(self.labels)
        if loaded is None and init == "hub":
            raise MoleError(
                f"could not load {HUB_ID} from the Hub (offline or unreachable); use init 'minilm' or 'random'"
            )
        if loaded is not None:
            self.tokenizer, self.model = loaded
            self.init = "hub"
        else:
            self.tokenizer = None if _empty else load_tokenizer(minilm_path())
            self.model = BertForSequenceClassification(_config(self.labels))
            self.init = "minilm" if init == "auto" else init
            if self.init == "minilm" and not _empty:
                with torch.no_grad():
                    self.model.bert.embeddings.word_embeddings.weight.copy_(
                        _minilm_embeddings(PAPER_CONFIG["hidden_size"])
                    )
        self.model.eval()

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
        """Fine-tune every weight with cross-entropy on (query, expert) pairs."""
        targets = label_ids(self.labels, labels)
        seed_everything(seed)
        self.model.train()

        def step(idx: list[int]) -> torch.Tensor:
            batch = tokenize(self.tokenizer, [queries[i] for i in idx], MAX_LENGTH)
            return self.model(**batch, labels=targets[idx]).loss

        with torch_threads(1):
            try:
                metrics = train_loop(
                    step,
                    len(queries),
                    list(self.model.parameters()),
                    epochs=epochs or 4,
                    lr=lr or 1e-3,
                    batch_size=batch_size or 32,
                    seed=seed,
                    progress=progress,
                    desc="bert-tiny",
                )
            finally:
                self.model.eval()
        return {**metrics, "init": self.init}

    @torch.no_grad()
    def predict(self, queries: Sequence[str]) -> list[list[float]]:
        self.model.eval()
        out = torch.empty(len(queries), len(self.labels))
        for idx in length_batches(queries, 64):
            logits = self.model(**tokenize(self.tokenizer, [queries[i] for i in idx], MAX_LENGTH)).logits
            out[idx] = torch.softmax(logits, dim=1)
        return out.tolist()

    def tensors(self) -> list[torch.Tensor]:
        return [*self.model.parameters(), *self.model.buffers()]

    def config(self) -> dict[str, Any]:
        bert = {k: v for k, v in self.model.config.to_dict().items() if k in PAPER_CONFIG}
        return {**super().config(), "init": self.init, "bert_config": bert, "max_length": MAX_LENGTH}

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        self.tokenizer.save_pretrained(str(directory / TOKENIZER_DIR))
        save_router(directory, self.config(), self.model.state_dict())


def build(labels: Sequence[str], **options: Any) -> BertTinyRouter:
    """Options: init ('auto', 'hub', 'minilm', 'random'), seed."""
    return BertTinyRouter(labels, **options)


def load(directory: Path) -> BertTinyRouter:
    from transformers import BertForSequenceClassification

    directory = Path(directory)
    config, tensors = load_router_files(directory, KIND)
    router = BertTinyRouter(config["labels"], _empty=True)
    router.init = config.get("init", "random")
    router.model = BertForSequenceClassification(_config(router.labels, config.get("bert_config")))
    load_state(router.model, tensors, directory)
    router.model.eval()
    tokenizer_dir = directory / TOKENIZER_DIR
    router.tokenizer = load_tokenizer(tokenizer_dir if tokenizer_dir.is_dir() else minilm_path())
    return router
