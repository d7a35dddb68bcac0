"""The one progress callback type of the library: long work reports, only the CLI draws.

``progress(stage, done, total, info=None)``: ``stage`` names what is running (one bar per stage in the
CLI), ``done`` of ``total`` steps are finished, ``info`` carries extras such as the epoch and running
loss. ``total == 0`` marks a status message with nothing to count (the Hub's "resolving ORG/NAME").
Router training, training data encoding, evaluation and the Hub all call it this way.
"""

from __future__ import annotations

from typing import Any, Protocol


class Progress(Protocol):
    """``progress(stage, done, total, info=None)``; see the module docstring."""

    def __call__(self, stage: str, done: int, total: int, info: dict[str, Any] | None = None, /) -> None: ...


def report(
    progress: Progress | None, stage: str, done: int, total: int, info: dict[str, Any] | None = None
) -> None:
    """Call ``progress`` when there is one (library code calls this, never ``print``)."""
    if progress is not None:
        progress(stage, done, total, info)
