"""Input limits: huge query files stream in chunks with flat memory; malformed lines are named."""

from __future__ import annotations

import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import pytest

from mole_core import MoleError
from mole_core.queries import iter_queries, route_stream
from mole_core.routing import Router


class FirstLetterRouter(Router):
    kind = "first-letter"

    def predict(self, queries: Sequence[str]) -> list[list[float]]:
        return [[1.0, 0.0] if q[0] < "m" else [0.0, 1.0] for q in queries]

    def save(self, directory: Path) -> None:  # pragma: no cover
        raise NotImplementedError


def _peak_while_routing(path: Path) -> tuple[int, int]:
    router = FirstLetterRouter(["a", "b"])
    tracemalloc.start()
    count = sum(1 for _ in route_stream(router, iter_queries(path), chunk=64))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return count, peak


def test_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    small, large = tmp_path / "small.txt", tmp_path / "large.jsonl"
    small.write_text("".join(f"question number {i} about things\n" for i in range(2_000)))
    with large.open("w") as fh:
        for i in range(40_000):
            fh.write(f'{{"query": "question number {i} about things"}}\n' if i % 2 else f"plain line {i}\n")
    n_small, peak_small = _peak_while_routing(small)
    n_large, peak_large = _peak_while_routing(large)
    assert (n_small, n_large) == (2_000, 40_000)
    assert large.stat().st_size > 1_000_000
    assert peak_large < 2 * peak_small + 200_000, (peak_small, peak_large)


@pytest.mark.parametrize(
    ("content", "words"),
    [('ok\n{"query": 3}\n', ":2: JSON line has no non-empty 'query'"), ("{bad json\n", ":1: invalid JSON")],
)
def test_bad_lines_are_named(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(content)
    with pytest.raises(MoleError, match=words):
        list(iter_queries(path))


def test_blank_lines_skipped_and_unicode_kept(tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_text("\n  \nÜnïcødé ✓ 漢字 🙂\n\n", encoding="utf-8")
    assert list(iter_queries(path)) == ["Ünïcødé ✓ 漢字 🙂"]


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_bytes(b"caf\xe9\n")
    with pytest.raises(MoleError, match="not UTF-8"):
        list(iter_queries(path))
