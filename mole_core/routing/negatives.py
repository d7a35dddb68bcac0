"""Off-topic requests: what a router learns the ``base`` output from, and fits its threshold on.

MoLE bundles a few hundred general requests (recipes, travel, jokes, letters, chit-chat, ...) written
for it (``mole_core/data/offtopic_requests.txt``, MIT); ``mole train-router --negatives FILE`` adds
a user's own. A query like these should reach the bare base model, not some expert.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import MoleError
from ..queries import iter_queries

BUNDLED = Path(__file__).resolve().parent.parent / "data" / "offtopic_requests.txt"


def read_negatives(path: str | os.PathLike[str]) -> list[str]:
    """Off-topic requests from ``path``: plain lines or JSONL with ``query``; ``#`` lines are comments."""
    out = [q for q in iter_queries(Path(path)) if not q.startswith("#")]
    if not out:
        raise MoleError(f"{path}: no off-topic requests")
    return out


def bundled_negatives() -> list[str]:
    """The off-topic requests MoLE ships."""
    return read_negatives(BUNDLED)


def gather_negatives(files: Iterable[str | os.PathLike[str]] = (), *, bundled: bool = True) -> list[str]:
    """The bundled requests (unless ``bundled`` is False) plus every file's, de-duplicated in order."""
    texts = bundled_negatives() if bundled else []
    for path in files:
        texts += read_negatives(path)
    return list(dict.fromkeys(t.strip() for t in texts if t.strip()))
