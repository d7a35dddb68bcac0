"""Reading queries from files: plain lines or JSON lines with a ``query`` field, streamed in chunks.

A file of any size is read lazily, so memory does not grow with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import MoleError
from .jsonl import parse_object

if TYPE_CHECKING:
    from .routing import Route, Router


def iter_queries(path: str | Path) -> Iterator[str]:
    """Yield one query per non-blank line; a line starting with ``{`` must be JSON with a ``query``."""
    path = Path(path)
    if str(path) != "-" and not path.is_file():
        raise MoleError(f"query file {path} does not exist")
    import sys

    handle = sys.stdin if str(path) == "-" else open(path, encoding="utf-8", errors="strict")  # noqa: SIM115
    try:
        for number, line in enumerate(handle, 1):
            text = line.strip()
            if not text:
                continue
            if text.startswith("{"):
                query = parse_object(text, f"{path}:{number}").get("query")
                if not isinstance(query, str) or not query.strip():
                    raise MoleError(f"{path}:{number}: JSON line has no non-empty 'query' field")
                yield query
            else:
                yield text
    except UnicodeDecodeError as exc:
        raise MoleError(f"{path}: not UTF-8 text") from exc
    finally:
        if handle is not sys.stdin:
            handle.close()


def route_stream(router: Router, queries: Iterable[str], chunk: int = 64) -> Iterator[Route]:
    """Route any number of queries, ``chunk`` at a time, so memory stays flat however many come."""
    from .runtime import check_queries

    for batch in chunks(iter(queries), chunk):
        yield from router.route(check_queries(batch))


def chunks(items: Iterator[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
