"""Making user- and Hub-supplied text safe to print: no control characters reach a terminal.

A task, a base model id or an error message can come from a pulled manifest; printed raw, an escape
sequence in it could rewrite the screen, hide lines or set the window title. Every human-readable line
the CLI prints goes through :func:`printable` (``--json`` output is escaped by the JSON encoder).
"""

from __future__ import annotations

import re

# C0 and C1 controls (ESC, CSI, BEL, backspace, CR, DEL, ...) and the invisible bidi/format marks that
# can reorder what a terminal shows; tab and newline fold to a space, since each value is one line.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_BLANK = re.compile("[\t\n]")


def printable(value: object, lines: bool = False) -> str:
    """``str(value)`` with every control character removed and tabs/newlines as spaces (``lines``:
    newlines kept, for multi-line text such as a generated answer)."""
    text = str(value)
    if lines:
        return "\n".join(_CONTROL.sub("", _BLANK.sub(" ", line)) for line in text.split("\n"))
    return _CONTROL.sub("", _BLANK.sub(" ", text))
