"""The manifest schema: TOML round-trip, one-line errors naming file and field, schema freshness."""

from __future__ import annotations

from pathlib import Path

import pytest

from mole_core import Manifest, ManifestError
from mole_core.manifest import schema_text

ROOT = Path(__file__).resolve().parent.parent
GOOD = """
[base]
id = "org/base"

[[experts]]
name = "alpha"
rank = 8
alpha = 8.0
target_modules = ["q_proj"]
base_model = "org/base"
path = "experts/alpha"
"""


def test_round_trip_keeps_every_field() -> None:
    manifest = Manifest.from_toml(GOOD)
    again = Manifest.from_toml(manifest.to_toml())
    assert again == manifest
    assert again.expert("alpha").rank == 8


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("[base\nid='x'", None, "invalid TOML"),
        (GOOD + "colour = 'red'\n", "experts[0] (alpha).colour", "unknown field"),
        (GOOD.replace("rank = 8", 'rank = "eight"'), "experts[0] (alpha).rank", "integer"),
        (GOOD.replace('id = "org/base"', ""), "base.id", "required field is missing"),
        (
            GOOD + GOOD.split("\n", 3)[3].replace("[base]", ""),
            "experts[1].name",
            "duplicate expert name 'alpha'",
        ),
        (
            GOOD.replace('name = "alpha"', 'name = "Bad Name!"'),
            "experts[0] (Bad Name!).name",
            "must be 1-64 characters",
        ),
        ("schema_version = 99\n" + GOOD, "schema_version", "newer than this MoLE"),
    ],
)
def test_bad_manifest_is_one_line_naming_file_and_field(text: str, field: str | None, words: str) -> None:
    with pytest.raises(ManifestError) as info:
        Manifest.from_toml(text, "reg/mole.toml")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("reg/mole.toml: ")
    if field:
        assert f": {field}: " in message
    assert words in message


def test_schema_json_is_fresh() -> None:
    committed = (ROOT / "registry" / "schema.json").read_text()
    assert committed == schema_text(), (
        "registry/schema.json is stale: run `mole schema > registry/schema.json`"
    )


def test_paper_manifest_describes_the_paper_setup() -> None:
    manifest = Manifest.read(ROOT / "registry" / "paper.toml")
    assert manifest.base.id == "meta-llama/Llama-3.2-3B"
    assert [(e.name, e.rank, e.alpha) for e in manifest.experts] == [
        ("reasoning", 64, 64.0),
        ("knowledge", 32, 32.0),
        ("qa", 16, 16.0),
        ("factoid", 8, 8.0),
    ]
    assert all(len(e.target_modules) == 7 for e in manifest.experts)
    assert manifest.router is not None and manifest.router.name == "bert-tiny"


# -- one source of truth: the checked-in JSON Schema and the loader agree ------------------------------
def schema_errors(data: dict) -> list[str]:
    import json

    import jsonschema

    from mole_core.manifest import json_form

    schema = json.loads((ROOT / "registry" / "schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    return [e.message for e in validator.iter_errors(json_form(data))]


def docs_example() -> str:
    text = (ROOT / "docs" / "manifest.md").read_text()
    return text.split("```toml\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize("source", ["paper.toml", "docs/manifest.md"])
def test_reference_manifests_pass_schema_and_loader(source: str) -> None:
    from mole_core.manifest import parse_toml

    text = (ROOT / "registry" / "paper.toml").read_text() if source == "paper.toml" else docs_example()
    assert schema_errors(parse_toml(text)) == []
    Manifest.from_toml(text)


def _with(field: str, value: object) -> dict:
    from mole_core.manifest import parse_toml

    data = parse_toml(GOOD)
    if field == "schema_version":
        data["schema_version"] = value
    else:
        data["experts"][0][field] = value
    if field == "name" and isinstance(value, str):  # an entry's path is its own directory, named for it
        data["experts"][0]["path"] = f"experts/{value}"
    return data


@pytest.mark.parametrize(
    ("field", "value", "valid"),
    [
        ("name", "alpha-2.b_c", True),
        ("name", "Alpha", False),
        ("name", "base", False),
        ("name", "-x", False),
        ("name", "x" * 65, False),
        ("name", "a/b", False),
        ("prompt_template", "Q: {query}\nA:", True),
        ("prompt_template", "no slot", False),
        ("schema_version", 1, True),
        ("schema_version", 2, False),
        ("schema_version", 0, False),
        ("rank", 0, False),
        ("sha256", "ab" * 32, True),
        ("sha256", "AB" * 32, False),
        ("surprise", 1, False),
        ("path", "experts/alpha@0a1b2c", True),
        ("path", ".", False),
        ("path", "", False),
        ("path", "experts", False),
        ("path", "experts/alpha/..", False),
        ("path", "../alpha", False),
        ("path", "/experts/alpha", False),
        ("rank", 10**30, False),
        ("alpha", 1e300, False),
    ],
)
def test_schema_and_loader_agree(field: str, value: object, valid: bool) -> None:
    data = _with(field, value)
    assert (schema_errors(data) == []) is valid
    if valid:
        Manifest.from_data(data)
    else:
        with pytest.raises(ManifestError):
            Manifest.from_data(data)


def test_duplicate_names_are_the_loaders_alone_and_the_schema_says_so() -> None:
    import json

    data = _with("name", "alpha")
    data["experts"].append(dict(data["experts"][0]))
    with pytest.raises(ManifestError, match="duplicate expert name"):
        Manifest.from_data(data)
    comment = json.loads((ROOT / "registry" / "schema.json").read_text())["$comment"]
    assert "unique" in comment and "its own directory" in comment
    data = _with("name", "alpha")
    data["experts"][0]["path"] = "experts/beta"  # passes the schema's pattern; the loader ties it to the name
    assert schema_errors(data) == []
    with pytest.raises(ManifestError, match="must be 'experts/alpha'"):
        Manifest.from_data(data)
