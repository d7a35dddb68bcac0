"""Reading the line-oriented files users hand to MoLE (training data, labelled queries, query files).

One set of rules and messages for all of them: a missing or non-UTF-8 file, and a line that is not a JSON
object, are one-line errors naming the file and the line number.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import MoleError


def read_text(path: Path, what: str, error: type[MoleError] = MoleError) -> str:
    """The whole file as UTF-8 text; ``what`` names it in the error (``"labelled query file"``)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise error(f"{what} {path} does not exist") from exc
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text") from exc
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror})") from exc


def parse_object(
    text: str, where: str, error: type[MoleError] = MoleError, expected: str = "a JSON object"
) -> dict[str, Any]:
    """One line of JSON that must be an object; ``where`` (``file:line``) starts any error."""
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{where}: invalid JSON ({exc.msg})") from exc
    except RecursionError as exc:
        raise error(f"{where}: invalid JSON (nested too deeply)") from exc
    if not isinstance(row, dict):
        raise error(f"{where}: expected {expected}, got {type(row).__name__}")
    return row


def objects(
    lines: Iterable[str],
    path: Path | str,
    error: type[MoleError] = MoleError,
    expected: str = "a JSON object",
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, object)`` for every non-blank line, ``where`` being ``path:line`` for the caller's own errors."""
    for number, line in enumerate(lines, 1):
        if line.strip():
            where = f"{path}:{number}"
            yield where, parse_object(line, where, error, expected)
