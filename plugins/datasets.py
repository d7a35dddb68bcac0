"""Built-in datasets: GSM8K for the reasoning expert, disjoint WikiText views for the other three.

With network access the loaders read the full data with ``datasets.load_dataset``; offline (the
default when ``HF_HUB_OFFLINE`` is set or the Hub is unreachable, see
:func:`mole_core.datasets.resolve_offline`) they read the small samples bundled in ``data/`` (see its
README for licenses).

The paper gave experts 2-4 the *same* 10,000 WikiText rows, so they came out identical. Here each
view gets its own whole articles (an article never feeds two views, nor both train and test) and its
own format: ``knowledge`` is plain prose, ``qa`` answers "tell me about <article>: <section>" with a
paragraph, ``factoid`` answers with one short sentence that holds a number. Articles are dealt to the
views by paragraph count, largest first, so each view gets a similar amount of text although article
sizes vary a hundredfold.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from mole_core import DatasetSpec, TextExample, hookimpl

from .answers import GSM8K_ANSWERS, strip_calculator

DATA = Path(__file__).parent / "data"
WIKITEXT_VIEWS = ("knowledge", "qa", "factoid")
WIKITEXT_HUB = ("Salesforce/wikitext", "wikitext-103-raw-v1")
TEST_SHARE = 5
"""Offline, about 1/5 of a view's paragraphs (whole articles, dealt like the views) is its test split."""
MIN_PARAGRAPH = 200


class Paragraph(NamedTuple):
    section: str
    text: str


class Article(NamedTuple):
    title: str
    paragraphs: list[Paragraph]


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
    else:  # the Hub (tested with datasets.load_dataset faked)
        from datasets import load_dataset

        rows = iter(load_dataset("openai/gsm8k", "main", split=split))
    for row in rows:
        yield TextExample(prompt=row["question"], completion=row["answer"])


def parse_wikitext(lines: list[str]) -> list[Article]:
    """Articles (``= Title =``) with their paragraphs, each tagged with its ``= = Section = =`` heading."""
    articles: list[Article] = []
    section = ""
    for line in lines:
        stripped = line.strip()
        if re.fullmatch(r"= [^=].*[^=] =", stripped):
            articles.append(Article(_clean_wikitext(stripped.strip("= ")), []))
            section = ""
        elif re.fullmatch(r"= = [^=].*[^=] = =", stripped):
            section = _clean_wikitext(stripped.strip("= "))
        elif stripped and not stripped.startswith("=") and articles:
            articles[-1].paragraphs.append(Paragraph(section, _clean_wikitext(stripped)))
    return [a for a in articles if a.paragraphs]


@lru_cache(maxsize=4)
def wikitext_articles(offline: bool = True, split: str = "test") -> tuple[Article, ...]:
    """Articles of WikiText-103 raw (online: the Hub's ``split``; offline: the bundled test split)."""
    if offline:
        lines = (DATA / "wikitext_test.txt").read_text(encoding="utf-8").splitlines()
    else:  # the Hub (tested with datasets.load_dataset faked)
        from datasets import load_dataset

        lines = [r["text"] for r in load_dataset(*WIKITEXT_HUB, split=split)]
    return tuple(parse_wikitext(lines))


def deal_articles(
    articles: tuple[Article, ...] | list[Article], views: int = len(WIKITEXT_VIEWS)
) -> list[list[int]]:
    """Article indices per view: largest first, each to the view with the fewest paragraphs so far."""
    order = sorted(range(len(articles)), key=lambda i: (-len(articles[i].paragraphs), i))
    dealt: list[list[int]] = [[] for _ in range(views)]
    sizes = [0] * views
    for index in order:
        view = min(range(views), key=lambda v: (sizes[v], v))
        dealt[view].append(index)
        sizes[view] += len(articles[index].paragraphs)
    return [sorted(indices) for indices in dealt]


def view_articles(view: str, split: str, offline: bool) -> list[Article]:
    """The articles of one view and split: disjoint from every other view and from the other split."""
    shard = WIKITEXT_VIEWS.index(view)
    if offline:  # one bundled split: hold out a fifth of the view's articles, dealt by size again
        articles = wikitext_articles(True)
        mine = [articles[i] for i in deal_articles(articles)[shard]]
        held = set(deal_articles(mine, TEST_SHARE)[0])
        return [a for k, a in enumerate(mine) if (k in held) == (split == "test")]
    articles = wikitext_articles(False, split)
    return [articles[i] for i in deal_articles(articles)[shard]]


def view_examples(view: str, articles: list[Article]) -> Iterator[TextExample]:
    """One view's format over its articles."""
    for title, paragraphs in articles:
        for section, text in paragraphs:
            if view == "knowledge":  # long analytical prose: plain language modelling
                if len(text) > MIN_PARAGRAPH:
                    yield TextExample(completion=text)
            elif view == "qa":  # explanations: a question about the topic, a paragraph as answer
                if len(text) > MIN_PARAGRAPH:
                    topic = f"{title}: {section}" if section else title
                    yield TextExample(prompt=f"Tell me about {topic}.", completion=text)
            else:  # factoid: one short sentence holding a number as the answer
                for sentence in re.split(r"(?<=\.) ", text):
                    if 40 < len(sentence) < 160 and re.search(r"\d", sentence):
                        yield TextExample(prompt=f"A fact about {title}:", completion=sentence)


def _wikitext_view(view: str):  # noqa: ANN202
    def load(split: str, limit: int | None, offline: bool) -> Iterator[TextExample]:
        return view_examples(view, view_articles(view, split, offline))

    return load


@hookimpl
def register_datasets(register) -> None:  # noqa: ANN001
    register(
        DatasetSpec(
            name="gsm8k",
            description="Grade-school math word problems: question as prompt, worked answer as completion.",
            hub_id="openai/gsm8k",
            hub_config="main",
            license="MIT",
            offline_source=DATA / "gsm8k_train.jsonl",
            loader=gsm8k,
            answers=GSM8K_ANSWERS,
            loss_variants={"nocalc": strip_calculator},
            lm_eval_tasks=DATA / "lm_eval_tasks" / "gsm8k",
        )
    )
    for view in WIKITEXT_VIEWS:
        register(
            DatasetSpec(
                name=f"wikitext-{view}",
                description=f"WikiText-103 articles, the {view} expert's disjoint third, in its format.",
                hub_id=WIKITEXT_HUB[0],
                hub_config=WIKITEXT_HUB[1],
                license="CC BY-SA 3.0",
                offline_source=DATA / "wikitext_test.txt",
                loader=_wikitext_view(view),
                lm_eval_tasks=DATA / "lm_eval_tasks" / "wikitext",
            )
        )
