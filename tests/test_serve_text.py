"""Streaming text: what is sent is always a prefix of the final text, stop strings are never sent."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from mole_core.serve.detok import TextStream  # noqa: E402


class CharTokenizer:
    """One token per UTF-8 byte, like a byte-level BPE at its most fragmented; 0 is a special token."""

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return bytes(i - 1 for i in ids if i != 0).decode("utf-8", errors="replace")


def tokens(text: str) -> list[int]:
    return [b + 1 for b in text.encode()]


def run(text: str, stops: list[str] = ()) -> tuple[list[str], TextStream]:  # noqa: B006
    stream = TextStream(CharTokenizer(), stops)
    pieces = []
    for token in tokens(text):
        pieces.append(stream.add(token))
        if stream.stopped:
            break
    pieces.append(stream.finish())
    return pieces, stream


def test_whitespace_is_stripped_like_generate_and_held_back_until_text_follows() -> None:
    pieces, _ = run("  hello world  \n")
    assert "".join(pieces) == "hello world"
    assert not any(p.endswith(" ") for p in pieces[:-1] if p)


@pytest.mark.parametrize(
    ("text", "stops", "expected"),
    [
        ("one two. three", ["."], "one two"),
        ("abc END def", ["END", "zzz"], "abc"),
        ("no stop here", ["STOP"], "no stop here"),
        ("ends with ST", ["STOP"], "ends with ST"),
        ("a\n\nb", ["\n\n"], "a"),
    ],
)
def test_stop_strings_are_never_sent(text: str, stops: list[str], expected: str) -> None:
    pieces, stream = run(text, stops)
    assert "".join(pieces) == expected
    sent = ""
    for piece in pieces:
        sent += piece
        assert not any(stop in sent for stop in stops)
    assert stream.stopped == any(s in text for s in stops)


def test_multibyte_characters_are_never_split() -> None:
    pieces, _ = run("héllo 世界 ✓")
    assert "".join(pieces) == "héllo 世界 ✓"
    assert all("\ufffd" not in p for p in pieces)
