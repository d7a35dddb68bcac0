"""The built-in routing examples are data files in one format, and they copy no evaluation question."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mole_core import MoleError, RoutingExamples, plugins

DATA = Path(plugins.__file__).resolve().parents[1] / "plugins" / "data"
EVALUATION_FILES = ["real_questions_dev.jsonl", "paper_test16.jsonl", "gsm8k_test.jsonl"]
"""Bundled questions that routers are checked on (and GSM8K's test split): never routing examples."""


def norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def evaluation_questions() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in EVALUATION_FILES:
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                question = row.get("query") or row.get("question")
                out[norm(question)] = f"{name}: {question}"
    return out


def template_pattern(template: str, slots: dict[str, list[str]]) -> re.Pattern[str]:
    """A regex matching every normalised query the template can produce (punctuation ignored)."""
    parts = []
    for piece in re.split(r"({\w+})", template):
        slot = re.fullmatch(r"{(\w+)}", piece)
        if slot:
            parts.append("(?:" + "|".join(re.escape(norm(f)) for f in slots[slot.group(1)]) + ")")
        elif norm(piece):
            parts.append(re.escape(norm(piece)))
    return re.compile(r"\s?".join(parts))


def routing_files() -> list[Path]:
    files = sorted((DATA / "routing").glob("*.toml"))
    assert len(files) >= 4
    return files


@pytest.mark.parametrize("path", routing_files(), ids=lambda p: p.stem)
def test_no_evaluation_question_is_a_routing_example(path: Path) -> None:
    questions = evaluation_questions()
    assert len(questions) > 400
    routing = RoutingExamples.from_file(path)
    copied = [questions[norm(e)] for e in routing.examples if norm(e) in questions]
    assert not copied, f"{path.name} copies evaluation questions: {copied}"
    for template in routing.templates:  # no template-and-filler combination reproduces one either
        pattern = template_pattern(template, routing.slots)
        hits = [q for n, q in questions.items() if pattern.fullmatch(n)]
        assert not hits, f"{path.name}: template {template!r} reproduces {hits}"


def test_leak_check_catches_a_copied_question(tmp_path: Path) -> None:
    questions = evaluation_questions()
    dev = next(q for q in questions.values() if q.startswith("real_questions_dev"))
    question = dev.split(": ", 1)[1]
    assert norm(question) in questions
    words = question.rstrip("?").split(" ")
    pattern = template_pattern(" ".join(words[:-1]) + " {last}?", {"last": [words[-1], "zzz"]})
    assert pattern.fullmatch(norm(question))


def test_paper_experts_read_their_examples_from_the_data_files() -> None:
    for path in routing_files():
        spec = plugins.get_expert_spec(path.stem)
        assert spec is not None, path.stem
        assert spec.routing == RoutingExamples.from_file(path)
        assert len(spec.routing.templates) >= 40 and len(spec.routing.examples) >= 24


def test_from_file_reads_the_documented_format(tmp_path: Path) -> None:
    path = tmp_path / "legal.toml"
    path.write_text(
        "# comments are allowed\n"
        "examples = ['Is this clause enforceable?', 'Can my landlord keep the deposit?']\n"
        "templates = ['What does {law} say about {topic}?']\n"
        "[slots]\n"
        "law = ['contract law', 'tort law']\n"
        "topic = ['damages', '$\\frac{1}{2}$ shares']\n",
        encoding="utf-8",
    )
    routing = RoutingExamples.from_file(path)
    assert routing.examples[0] == "Is this clause enforceable?"
    assert routing.slots["topic"][1] == "$\\frac{1}{2}$ shares"
    assert routing.dataset_queries is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("examples = [", "invalid TOML"),
        ("examples = 'one'", "examples"),
        ("templates = ['{x}']", "slot 'x'"),
        ("colour = 'blue'", "colour"),
    ],
)
def test_from_file_names_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MoleError, match=re.escape(message)) as err:
        RoutingExamples.from_file(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_from_file_missing(tmp_path: Path) -> None:
    with pytest.raises(MoleError, match="does not exist"):
        RoutingExamples.from_file(tmp_path / "nope.toml")
