"""Datasets: the built-in plugins, local files, and labels that train completions and EOS only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mole_plugins import datasets as builtin
from mole_plugins.answers import strip_calculator

from mole_core import TextExample
from mole_core.datasets import (
    IGNORE_INDEX,
    CompletionCollator,
    DataFileError,
    encode_example,
    encode_examples,
    load_examples,
    prompt_ids,
    read_data_file,
    resolve_offline,
)
from mole_core.plugins import get_dataset_spec

VIEWS = [f"wikitext-{v}" for v in builtin.WIKITEXT_VIEWS]


# -- built-in datasets -------------------------------------------------------------------------------------
def test_gsm8k_yields_question_and_worked_answer() -> None:
    examples = get_dataset_spec("gsm8k").load("train", limit=5, offline=True)
    assert len(examples) == 5
    for ex in examples:
        assert ex.prompt.strip().endswith("?") or len(ex.prompt) > 20  # the question, not empty
        assert "####" in ex.completion  # the worked answer with its final line
        assert len(ex.completion.split("####")[0].strip()) > 0  # the reasoning before it


def test_gsm8k_train_and_test_questions_are_disjoint() -> None:
    spec = get_dataset_spec("gsm8k")
    train = {e.prompt for e in spec.load("train", offline=True)}
    test = {e.prompt for e in spec.load("test", offline=True)}
    assert len(train) > 1000 and len(test) > 100
    assert not train & test


def _titles(view: str, split: str) -> set[str]:
    return {a.title for a in builtin.view_articles(view, split, offline=True)}


def test_wikitext_views_and_splits_use_disjoint_articles() -> None:
    seen: dict[tuple[str, str], set[str]] = {
        (view, split): _titles(view, split) for view in builtin.WIKITEXT_VIEWS for split in ("train", "test")
    }
    keys = list(seen)
    for i, a in enumerate(keys):
        assert seen[a], f"{a} has no articles"
        for b in keys[i + 1 :]:
            assert not seen[a] & seen[b], f"{a} and {b} share articles {seen[a] & seen[b]}"
    everything = {a.title for a in builtin.wikitext_articles(True)}
    assert set().union(*seen.values()) == everything  # every article is used by exactly one view and split


def test_wikitext_view_texts_are_disjoint_between_views_and_splits() -> None:
    texts = {
        (name, split): {e.completion for e in get_dataset_spec(name).load(split, offline=True)}
        for name in VIEWS
        for split in ("train", "test")
    }
    keys = list(texts)
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            assert not texts[a] & texts[b], f"{a} and {b} share texts"


@pytest.mark.parametrize("name", VIEWS)
def test_each_wikitext_view_has_enough_examples(name: str) -> None:
    spec = get_dataset_spec(name)
    train, test = spec.load("train", offline=True), spec.load("test", offline=True)
    assert len(train) >= 300, "too few to train the paper's 2 epochs x 16-example batches"
    assert len(test) >= 50, "too few for a held-out loss"
    assert len(test) < len(train)


def test_wikitext_views_have_their_own_formats() -> None:
    knowledge = get_dataset_spec("wikitext-knowledge").load("train", limit=20, offline=True)
    qa = get_dataset_spec("wikitext-qa").load("train", limit=20, offline=True)
    factoid = get_dataset_spec("wikitext-factoid").load("train", limit=20, offline=True)
    assert all(not e.prompt and len(e.completion) > builtin.MIN_PARAGRAPH for e in knowledge)
    assert all(e.prompt.startswith("Tell me about ") for e in qa)
    assert len({e.prompt for e in qa}) > 1  # sections make the questions differ within an article
    assert all(e.prompt.startswith("A fact about ") and len(e.completion) < 160 for e in factoid)
    assert all(any(c.isdigit() for c in e.completion) for e in factoid)


def test_articles_are_dealt_to_balance_paragraphs() -> None:
    articles = builtin.wikitext_articles(True)
    sizes = [sum(len(articles[i].paragraphs) for i in view) for view in builtin.deal_articles(articles)]
    assert max(sizes) - min(sizes) <= max(len(a.paragraphs) for a in articles)
    assert sorted(i for view in builtin.deal_articles(articles) for i in view) == list(range(len(articles)))


def test_calculator_annotations_are_stripped() -> None:
    assert strip_calculator("48/2 = <<48/2=24>>24 clips") == "48/2 = 24 clips"
    assert strip_calculator("no notes") == "no notes"


# -- offline rule -------------------------------------------------------------------------------------------
def test_offline_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    from mole_core import network

    for var in network.OFFLINE_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(network, "hub_reachable", lambda: True)
    assert resolve_offline(None) is False
    assert resolve_offline(True) is True
    monkeypatch.setattr(network, "hub_reachable", lambda: False)
    assert resolve_offline(None) is True
    assert resolve_offline(False) is False  # an explicit choice wins
    monkeypatch.setattr(network, "hub_reachable", lambda: True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_offline(None) is True


# -- local files --------------------------------------------------------------------------------------------
def test_jsonl_rows_with_prompt_completion_or_text(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    rows = [
        {"prompt": "Q1", "completion": "A1"},
        {"text": "plain text"},
        {"completion": "no prompt", "id": 3},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    examples = read_data_file(path)
    assert [(e.prompt, e.completion) for e in examples] == [
        ("Q1", "A1"),
        ("", "plain text"),
        ("", "no prompt"),
    ]
    assert len(load_examples(data=path, limit=2).examples) == 2


def test_text_file_is_split_into_paragraphs(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("First paragraph\nstill first.\n\n\nSecond one.\n   \nThird.\n")
    assert [e.completion for e in read_data_file(path)] == [
        "First paragraph\nstill first.",
        "Second one.",
        "Third.",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"prompt": "q", "completion": "a"}\n{"prompt": "q"\n', "d.jsonl:2: invalid JSON"),
        ('{"prompt": "q", "completion": "a"}\n\n{"question": "q"}\n', "d.jsonl:3: expected a 'completion'"),
        ('["a", "b"]\n', "d.jsonl:1: expected a JSON object"),
        ('{"prompt": 3, "completion": "a"}\n', "d.jsonl:1: field 'prompt'"),
        ('{"completion": "   "}\n', "d.jsonl:1: the completion is empty"),
        ("\n\n", "no examples"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(content)
    with pytest.raises(DataFileError) as info:
        read_data_file(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_or_binary_file(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="does not exist"):
        read_data_file(tmp_path / "nope.jsonl")
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(DataFileError, match="not UTF-8"):
        read_data_file(binary)


# -- tokenisation and labels ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tokenizer():  # noqa: ANN201
    from tiny import build_tokenizer

    return build_tokenizer()


@pytest.fixture(scope="module")
def pad_is_eos():  # noqa: ANN201
    """SmolLM2's situation: the pad token *is* the EOS token."""
    from tiny import build_tokenizer

    tok = build_tokenizer()
    tok.pad_token = tok.eos_token
    assert tok.pad_token_id == tok.eos_token_id
    return tok


def test_labels_mask_prompt_and_padding_but_keep_eos_when_pad_is_eos(pad_is_eos) -> None:  # noqa: ANN001
    tok = pad_is_eos
    examples = [
        TextExample(prompt="What is 2+2?", completion="4"),
        TextExample(prompt="Name a city.", completion="Paris is the capital of France."),
        TextExample(completion="Plain text, no prompt."),
    ]
    features = encode_examples(tok, examples, max_length=128)
    batch = CompletionCollator(tok.pad_token_id)(features)
    eos = tok.eos_token_id
    width = batch["input_ids"].shape[1]
    for row, (example, feature) in enumerate(zip(examples, features, strict=True)):
        n = len(feature["input_ids"])
        n_prompt = len(prompt_ids(tok, example.prompt))
        labels = batch["labels"][row].tolist()
        assert labels[:n_prompt] == [IGNORE_INDEX] * n_prompt  # prompt masked
        assert labels[n - 1] == eos  # EOS is trained although it equals the pad id
        assert labels[n:] == [IGNORE_INDEX] * (width - n)  # padding masked by position
        assert batch["input_ids"][row, n:].tolist() == [eos] * (width - n)  # padded with the pad (= EOS) id
        assert batch["attention_mask"][row].tolist() == [1] * n + [0] * (width - n)
        completion = tok(example.completion, add_special_tokens=False)["input_ids"]
        assert labels[n_prompt : n - 1] == completion  # the completion itself is trained
    assert int((batch["labels"] == eos).sum()) == len(examples)


def test_prompt_uses_the_chat_template_as_inference_does(tokenizer) -> None:  # noqa: ANN001
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2+2?"}], add_generation_prompt=True, tokenize=False
    )
    expected = tokenizer(text, add_special_tokens=False)["input_ids"]  # what MoLE.generate feeds the model
    feature = encode_example(tokenizer, TextExample(prompt="What is 2+2?", completion="4"), 128)
    assert feature is not None
    assert feature["input_ids"][: len(expected)] == expected
    assert tokenizer.decode(feature["input_ids"][: len(expected)]).endswith("<|im_start|>assistant\n")


def test_without_chat_template_the_answer_follows_the_raw_prompt(tokenizer) -> None:  # noqa: ANN001
    from tiny import build_tokenizer

    tok = build_tokenizer()
    tok.chat_template = None
    feature = encode_example(tok, TextExample(prompt="Q?", completion="A."), 64)
    assert feature is not None
    assert tok.decode(feature["input_ids"]) == "Q?\nA.<|endoftext|>"
    assert tok.decode([t for t in feature["labels"] if t != IGNORE_INDEX]) == "\nA.<|endoftext|>"


def test_truncation_keeps_the_prompt_and_cuts_the_completion(tokenizer) -> None:  # noqa: ANN001
    long = TextExample(prompt="Tell me.", completion="word " * 200)
    feature = encode_example(tokenizer, long, max_length=32)
    assert feature is not None and len(feature["input_ids"]) == 32
    n_prompt = len(prompt_ids(tokenizer, "Tell me."))
    assert feature["labels"][:n_prompt] == [IGNORE_INDEX] * n_prompt
    assert all(t != IGNORE_INDEX for t in feature["labels"][n_prompt:])
    huge_prompt = TextExample(prompt="word " * 200, completion="yes")
    cut = encode_example(tokenizer, huge_prompt, max_length=32)
    assert cut is not None and len(cut["input_ids"]) <= 32
    assert cut["labels"][-1] == tokenizer.eos_token_id


# -- the online paths, with datasets.load_dataset faked (no network here; the mapping code is ours) ------
@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """``datasets.load_dataset`` answering GSM8K and WikiText-103 with a few rows; records its calls."""
    import datasets

    calls: list[tuple] = []
    wikitext = {
        "train": [
            " = Alpha River = \n",
            " The Alpha River is 120 km long and drains 3 @,@ 400 km2 of farmland , "
            "according to a survey made in 1998 by the regional water authority . \n",
            " = = Course = = \n",
            " It rises in the hills and flows for 120 km through the plain to the sea , "
            "passing 12 towns on its way , the largest of which has 40 @,@ 000 people . \n",
        ]
        * 3,
        "test": [
            " = Beta Peak = \n",
            " Beta Peak rises to 2 @,@ 310 m and was first climbed in 1857 by a party "
            "of four guides and two surveyors from the capital . \n",
        ],
    }

    def load_dataset(path: str, name: str | None = None, split: str = "train", **_: object) -> list[dict]:
        calls.append((path, name, split))
        if path == "openai/gsm8k":
            return [
                {"question": f"Q{i}: what is {i}+{i}?", "answer": f"{i}+{i}={2 * i}\n#### {2 * i}"}
                for i in range(5)
            ]
        if (path, name) == builtin.WIKITEXT_HUB:
            return [{"text": line} for line in wikitext[split]]
        raise FileNotFoundError(f"no dataset {path}")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    builtin.wikitext_articles.cache_clear()
    yield calls
    builtin.wikitext_articles.cache_clear()


def test_gsm8k_online_maps_hub_rows(fake_hub: list[tuple]) -> None:
    loaded = load_examples("gsm8k", split="test", limit=3, offline=False)
    examples = list(loaded.examples)
    assert fake_hub == [("openai/gsm8k", "main", "test")]
    assert (
        len(examples) == 3
        and examples[1].prompt == "Q1: what is 1+1?"
        and examples[1].completion.endswith("#### 2")
    )
    assert loaded.source == get_dataset_spec("gsm8k").hub_id


def test_wikitext_views_online_read_the_hub_split_and_stay_disjoint(fake_hub: list[tuple]) -> None:
    train = {v: list(load_examples(v, split="train", offline=False).examples) for v in VIEWS}
    test = {v: list(load_examples(v, split="test", offline=False).examples) for v in VIEWS}
    assert {c[2] for c in fake_hub} == {"train", "test"} and {c[:2] for c in fake_hub} == {
        builtin.WIKITEXT_HUB
    }
    every = [e for v in VIEWS for e in train[v] + test[v]]
    assert every, "the fake articles must yield examples"
    assert all("@" not in e.completion and " ," not in e.completion for e in every)  # tokenisation undone
    assert not {e.completion for e in every if "Beta Peak" in e.completion} & {
        e.completion for v in VIEWS for e in train[v]
    }  # the test split's article never trains


def test_online_failure_is_one_line_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    def offline_box(*args: object, **kwargs: object) -> None:
        raise ConnectionError(
            "Couldn't reach 'openai/gsm8k' on the Hub (LocalEntryNotFoundError)\nmore detail"
        )

    monkeypatch.setattr(datasets, "load_dataset", offline_box)
    with pytest.raises(Exception, match=r"cannot load dataset 'gsm8k' .*from the Hub .*try --offline") as err:
        list(load_examples("gsm8k", split="train", offline=False).examples)
    assert "\n" not in str(err.value)
