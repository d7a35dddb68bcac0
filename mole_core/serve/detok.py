"""Incremental detokenization with stop strings, for streaming.

The text of a row is re-decoded from all its tokens at each step (byte-level BPE can change earlier
characters only while a multi-byte character is incomplete; that is held back). What is sent is
always a prefix of the final text, and the final text equals ``MoLE.generate``'s: special tokens
skipped, leading and trailing whitespace stripped (trailing whitespace is held back until more text
follows it). Text that might be the start of a stop string is held back too, so a stop string is
never sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class TextStream:
    """The growing text of one row; :meth:`add` returns what may be sent now."""

    def __init__(self, tokenizer: Any, stops: Sequence[str] = ()) -> None:
        self.tokenizer = tokenizer
        self.stops = [s for s in stops if s]
        self.ids: list[int] = []
        self.sent = ""
        self.stopped = False

    def add(self, token: int) -> str:
        """Take one token; the new text that can be sent. Sets :attr:`stopped` on a stop string."""
        self.ids.append(token)
        text = self._text()
        if text is None:
            return ""
        cut = self._stop_at(text)
        if cut is not None:
            self.stopped = True
            return self._send(text[:cut].rstrip())
        return self._send(text[: self._safe_end(text)])

    def finish(self) -> str:
        """The rest of the text when the row ends (held-back characters that did not become a stop)."""
        if self.stopped:
            return ""
        text = self._text(final=True) or ""
        return self._send(text.rstrip())

    def _text(self, final: bool = False) -> str | None:
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True).lstrip()
        if text.endswith("\ufffd") and not final:
            return None  # an incomplete multi-byte character: wait for its next byte
        return text

    def _stop_at(self, text: str) -> int | None:
        hits = [i for i in (text.find(s) for s in self.stops) if i >= 0]
        return min(hits) if hits else None

    def _safe_end(self, text: str) -> int:
        """Where the sendable text ends: before trailing whitespace and any partial stop string."""
        end = len(text.rstrip())
        for stop in self.stops:
            for k in range(min(len(stop) - 1, len(text)), 0, -1):
                if text.endswith(stop[:k]):
                    end = min(end, len(text) - k)
                    break
        return len(text[:end].rstrip())

    def _send(self, text: str) -> str:
        if not text.startswith(self.sent) or len(text) <= len(self.sent):
            return ""  # decoding changed earlier text (rare) or nothing new: send nothing now
        new = text[len(self.sent) :]
        self.sent = text
        return new
