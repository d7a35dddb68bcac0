"""Surface features a sentence encoder misses: hashed character and word n-grams of the raw query.

MiniLM is uncased and reads meaning; what kind of request a query is often shows in its *form*:
LaTeX (``$\\frac``), SQL-like "Show the name of ...", lower-case search-engine questions without a
question mark, shell commands, a legal fact pattern. A linear layer over hashed, case-sensitive
character 2-4-grams and word 1-2-grams (a ``HashingVectorizer`` in spirit) sees those forms. Hashing
keeps the layer a fixed size whatever the vocabulary, and needs no fitted vocabulary to save.
"""

from __future__ import annotations

import functools
import math
import re
import zlib
from collections import Counter
from collections.abc import Sequence

import torch

DIM = 1 << 15
"""Hash buckets: collisions are rare enough at routing-set vocabulary sizes, and the layer stays ~1 MB."""
MAX_CHARS = 400
"""Characters read per query (the opening of a long prompt says what it is)."""
WORD_RE = re.compile(r"\w+|[^\w\s]")


def _bucket(feature: str) -> int:
    return zlib.crc32(feature.encode("utf-8")) % DIM


def features(text: str) -> Counter[int]:
    """Hashed n-gram counts of one query."""
    counts: Counter[int] = Counter()
    padded = " " + " ".join(text.split())[:MAX_CHARS] + " "
    for n in (2, 3, 4):
        for i in range(len(padded) - n + 1):
            counts[_bucket(f"c{n}{padded[i : i + n]}")] += 1
    words = WORD_RE.findall(padded.lower())
    for i, word in enumerate(words):
        counts[_bucket(f"w{word}")] += 1
        if i:
            counts[_bucket(f"b{words[i - 1]} {word}")] += 1
    counts[_bucket(f"len{min(10, len(words) // 8)}")] += 1
    return counts


@functools.lru_cache(maxsize=1 << 16)
def _unit(text: str) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """A query's buckets and log-count weights at unit length (cached: training revisits each query)."""
    counts = features(text)
    values = [math.log1p(v) for v in counts.values()]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return tuple(counts.keys()), tuple(v / norm for v in values)


def bags(texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(indices, offsets, weights) for ``torch.nn.EmbeddingBag``: log counts, each query at unit length."""
    indices: list[int] = []
    weights: list[float] = []
    offsets: list[int] = []
    for text in texts:
        keys, values = _unit(text)
        offsets.append(len(indices))
        indices.extend(keys)
        weights.extend(values)
    return (
        torch.tensor(indices, dtype=torch.long),
        torch.tensor(offsets, dtype=torch.long),
        torch.tensor(weights, dtype=torch.float32),
    )


class NgramLinear(torch.nn.Module):
    """One logit per expert from a query's hashed n-grams (starts at zero: adds nothing until trained)."""

    def __init__(self, n_labels: int, scale: float = 10.0) -> None:
        super().__init__()
        self.bag = torch.nn.EmbeddingBag(DIM, n_labels, mode="sum")
        torch.nn.init.zeros_(self.bag.weight)
        self.scale = scale

    def forward(self, indices: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return self.bag(indices, offsets, per_sample_weights=weights) * self.scale
