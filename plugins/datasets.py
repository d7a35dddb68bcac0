"""Built-in datasets: GSM8K for the reasoning expert, disjoint WikiText views for the other three.

With network access the loaders read the full data with ``datasets.load_dataset``; offline (the
default here) they read the small samples bundled in ``data/`` (see its README for licenses).
The paper gave experts 2-4 the *same* 10,000 WikiText rows, so they came out identical; here each
gets its own articles (disjoint by article index) and its own format.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from mole_core import DatasetSpec, TextExample, hookimpl

DATA = Path(__file__).parent / "data"
WIKITEXT_VIEWS = ("knowledge", "qa", "factoid")


def _clean_wikitext(text: str) -> str:
    """Undo WikiText's tokenisation artefacts (`` @-@ ``, spaces before punctuation)."""
    text = re.sub(r" @(.)@ ", r"\1", text)
    text = re.sub(r" ([.,;:!?)'\]])", r"\1", text)
    text = re.sub(r"([(\[]) ", r"\1", text)
    return text.replace(" 's", "'s").replace(' " ', ' "').strip()


def gsm8k(split: str, limit: int | None, offline: bool) -> Iterator[TextExample]:
    """Question as prompt, worked answer (with its ``#### final`` line) as completion."""
    if offline:
        path = DATA / ("gsm8k_train.jsonl" if split == "train" else "gsm8k_test.jsonl")
        rows = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    else:  # pragma: no cover - needs network
        from datasets import load_dataset

        rows = iter(load_dataset("openai/gsm8k", "main", split=split))
    for row in rows:
        yield TextExample(prompt=row["question"], completion=row["answer"])


def wikitext_articles(offline: bool = True) -> list[tuple[str, list[str]]]:
    """(title, paragraphs) for every article of the WikiText raw test split."""
    if offline:
        lines = (DATA / "wikitext_test.txt").read_text(encoding="utf-8").splitlines()
    else:  # pragma: no cover - needs network
        from datasets import load_dataset

        lines = [r["text"] for r in load_dataset("Salesforce/wikitext", "wikitext-103-raw-v1", split="test")]
    articles: list[tuple[str, list[str]]] = []
    for line in lines:
        stripped = line.strip()
        if re.fullmatch(r"= [^=].*[^=] =", stripped):
            articles.append((_clean_wikitext(stripped.strip("= ")), []))
        elif stripped and not stripped.startswith("=") and articles:
            articles[-1][1].append(_clean_wikitext(stripped))
    return articles


def _wikitext_view(view: str):  # noqa: ANN202
    def load(split: str, limit: int | None, offline: bool) -> Iterator[TextExample]:
        articles = wikitext_articles(offline)
        shard = WIKITEXT_VIEWS.index(view)
        mine = [a for i, a in enumerate(articles) if i % len(WIKITEXT_VIEWS) == shard]
        cut = max(1, len(mine) // 5)  # last fifth of each view's articles is its test split
        mine = mine[cut:] if split == "train" else mine[:cut]
        for title, paragraphs in mine:
            if view == "knowledge":  # long analytical prose: plain language modelling
                for paragraph in paragraphs:
                    if len(paragraph) > 200:
                        yield TextExample(completion=paragraph)
            elif view == "qa":  # explanations: question about the topic, a paragraph as answer
                for paragraph in paragraphs:
                    if len(paragraph) > 200:
                        yield TextExample(prompt=f"Tell me about {title}.", completion=paragraph)
            else:  # factoid: one short sentence as the answer
                for paragraph in paragraphs:
                    for sentence in re.split(r"(?<=\.) ", paragraph):
                        if 40 < len(sentence) < 160 and re.search(r"\d", sentence):
                            yield TextExample(prompt=f"A fact about {title}:", completion=sentence)

    return load


@hookimpl
def register_datasets(register) -> None:  # noqa: ANN001
    register(
        DatasetSpec(
            name="gsm8k",
            description="Grade-school math word problems with worked answers (question and answer).",
            hub_id="openai/gsm8k",
            hub_config="main",
            license="MIT",
            offline_source=DATA / "gsm8k_train.jsonl",
            loader=gsm8k,
        )
    )
    for view in WIKITEXT_VIEWS:
        register(
            DatasetSpec(
                name=f"wikitext-{view}",
                description=f"WikiText-103 articles, the {view} expert's disjoint third, in its format.",
                hub_id="Salesforce/wikitext",
                hub_config="wikitext-103-raw-v1",
                license="CC BY-SA 3.0",
                offline_source=DATA / "wikitext_test.txt",
                loader=_wikitext_view(view),
            )
        )
