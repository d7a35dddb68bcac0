"""Dataset for the bundled WikiText task: the paragraphs of the WikiText-103 test sample shipped with
MoLE's built-in plugins (``plugins/data/wikitext_test.txt``, CC BY-SA 3.0), so it runs with no network."""

from __future__ import annotations

from pathlib import Path

import datasets

DATA = Path(__file__).resolve().parents[2]
MIN_CHARS = 200


def load_paragraphs(**kwargs: object) -> datasets.DatasetDict:
    """One document per paragraph of at least 200 characters, with its article title, in file order."""
    from mole_plugins.datasets import parse_wikitext

    lines = (DATA / "wikitext_test.txt").read_text(encoding="utf-8").splitlines()
    rows = [
        {"title": article.title, "text": paragraph.text}
        for article in parse_wikitext(lines)
        for paragraph in article.paragraphs
        if len(paragraph.text) >= MIN_CHARS
    ]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})
