"""The fake Hub must satisfy the real ``huggingface_hub`` client, or hub tests prove nothing.

Every test drives the actual client (``HfApi``, ``hf_hub_download``, ``snapshot_download``) against
``HubServer`` and checks both sides: what the client returns or raises, and what the server saw.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import TYPE_CHECKING

import httpx2
import pytest
from hubserver import DEFAULT_USER, HubServer
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    hf_hub_download,
    snapshot_download,
)
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

if TYPE_CHECKING:
    from hub_fixtures import HubEnv

pytest_plugins = ["hub_fixtures"]

REPO = f"{DEFAULT_USER}/adapters"


def ndjson(body: bytes) -> list[dict]:
    return [json.loads(line) for line in body.splitlines() if line.strip()]


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """``http_get`` sleeps 1 s before each download retry; tests need not wait."""
    from huggingface_hub import file_download

    monkeypatch.setattr(file_download, "time", types.SimpleNamespace(sleep=lambda _seconds: None))


def test_whoami_and_bad_tokens(hub_server: HubServer) -> None:
    api = HfApi(endpoint=hub_server.url, token=hub_server.token)
    assert api.whoami()["name"] == hub_server.user

    with pytest.raises(HfHubHTTPError) as whoami_error:
        api.whoami(token="hf_wrong")
    assert whoami_error.value.response.status_code == 401

    hub_server.add_commit(REPO, {"a.txt": "a"})
    with pytest.raises(HfHubHTTPError) as info_error:
        HfApi(endpoint=hub_server.url, token="hf_wrong").model_info(REPO)
    assert info_error.value.response.status_code == 401
    assert not isinstance(info_error.value, RepositoryNotFoundError)  # a bad token is not a missing repo
    assert hub_server.requests[-1].bearer == "hf_wrong"


def test_create_repo_conflicts_and_permissions(hub_server_factory) -> None:
    server = hub_server_factory(tokens={"hf_alice": "alice"}, read_only_tokens={"hf_reader"})
    api = HfApi(endpoint=server.url, token="hf_alice")

    url = api.create_repo("demo")  # no namespace: the token's user
    assert url.repo_id == "alice/demo"
    assert api.create_repo("alice/demo", exist_ok=True).repo_id == "alice/demo"
    with pytest.raises(HfHubHTTPError) as conflict:
        api.create_repo("alice/demo")
    assert conflict.value.response.status_code == 409

    with pytest.raises(HfHubHTTPError) as anonymous:
        HfApi(endpoint=server.url, token=False).create_repo("alice/other")
    assert anonymous.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as read_only:
        HfApi(endpoint=server.url, token="hf_reader").upload_file(
            path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="alice/demo"
        )
    assert read_only.value.response.status_code == 403


def test_upload_file_regular_route_and_download(hub_env: HubEnv) -> None:
    server, api = hub_env.server, hub_env.api()
    api.create_repo(REPO)
    server.clear_requests()

    info = api.upload_file(path_or_fileobj=b"# Card\n", path_in_repo="README.md", repo_id=REPO)
    api.upload_file(path_or_fileobj=b"\x00" * 2048, path_in_repo="weights.safetensors", repo_id=REPO)

    assert [r.url_path for r in server.requests[:3]] == [
        "/api/validate-yaml",
        f"/api/models/{REPO}/preupload/main",
        f"/api/models/{REPO}/commit/main",
    ]
    commits = server.requests_matching("POST", r"/commit/main$")
    assert [line["key"] for line in ndjson(commits[-1].body)] == ["header", "file"]  # Xet-safe: all regular
    assert not server.requests_matching(path_regex=r"lfs|xet")
    assert info.oid == server.commit(REPO, revision=info.oid).oid

    # No explicit endpoint/token/cache_dir: hub_env patched the already-imported client.
    path = Path(hf_hub_download(REPO, "weights.safetensors"))
    assert path.read_bytes() == b"\x00" * 2048
    assert hub_env.cache_dir in path.parents
    head = server.requests_matching("HEAD", r"/resolve/main/weights.safetensors$")[-1]
    assert head.bearer == hub_env.token
    assert api.model_info(REPO).sha == server.commit(REPO).oid


def test_upload_folder_listing_and_snapshot(hub_env: HubEnv, tmp_path: Path) -> None:
    api = hub_env.api()
    api.create_repo(REPO)
    folder = tmp_path / "adapter"
    (folder / "nested").mkdir(parents=True)
    (folder / "adapter_config.json").write_text('{"r": 4}')
    (folder / "adapter_model.safetensors").write_bytes(b"w" * 3000)
    (folder / "nested" / "notes.txt").write_text("hi")

    commit = api.upload_folder(repo_id=REPO, folder_path=folder, commit_message="Add adapter")

    expected = [".gitattributes", "adapter_config.json", "adapter_model.safetensors", "nested/notes.txt"]
    assert api.list_repo_files(REPO) == expected
    info = api.model_info(REPO, files_metadata=True)
    assert info.sha == commit.oid
    assert {s.rfilename: s.size for s in info.siblings}["adapter_model.safetensors"] == 3000
    top = {entry.path: type(entry).__name__ for entry in api.list_repo_tree(REPO)}
    assert top["nested"] == "RepoFolder" and "nested/notes.txt" not in top
    assert [e.path for e in api.list_repo_tree(REPO, path_in_repo="nested")] == ["nested/notes.txt"]
    paths = api.get_paths_info(REPO, ["adapter_config.json", "nested", "missing"])
    assert [p.path for p in paths] == ["adapter_config.json", "nested"]
    assert api.file_exists(REPO, "nested/notes.txt") and not api.file_exists(REPO, "nope.txt")
    assert api.repo_exists(REPO) and not api.repo_exists(f"{REPO}-missing")
    assert api.list_repo_commits(REPO)[0].title == "Add adapter"

    snapshot = Path(snapshot_download(REPO, allow_patterns=["*.json", "nested/*"]))
    assert sorted(str(p.relative_to(snapshot)) for p in snapshot.rglob("*") if p.is_file()) == [
        "adapter_config.json",
        "nested/notes.txt",
    ]
    assert snapshot.name == commit.oid


def test_create_commit_operations_and_errors(hub_env: HubEnv) -> None:
    api, server = hub_env.api(), hub_env.server
    server.add_commit(REPO, {"old.txt": "old", "keep.txt": "keep"})
    head = server.commit(REPO).oid

    info = api.create_commit(
        REPO,
        operations=[
            CommitOperationAdd(path_in_repo="new.txt", path_or_fileobj=b"new"),
            CommitOperationDelete(path_in_repo="old.txt"),
        ],
        commit_message="Swap files",
        parent_commit=head,
    )
    files = server.files(REPO)
    assert files.pop(".gitattributes") and files == {"keep.txt": b"keep", "new.txt": b"new"}
    assert server.commit(REPO).parent == head and server.commit(REPO).oid == info.oid

    with pytest.raises(EntryNotFoundError):
        api.delete_file("old.txt", repo_id=REPO)
    with pytest.raises(HfHubHTTPError) as stale:
        api.create_commit(
            REPO,
            operations=[CommitOperationAdd(path_in_repo="x.txt", path_or_fileobj=b"x")],
            commit_message="stale",
            parent_commit=head,
        )
    assert stale.value.response.status_code == 412

    # Re-uploading identical content: the client skips the commit thanks to preupload's oid.
    before = server.commit(REPO).oid
    api.upload_file(path_or_fileobj=b"new", path_in_repo="new.txt", repo_id=REPO)
    assert server.commit(REPO).oid == before


def test_branches_tags_and_revision_errors(hub_env: HubEnv) -> None:
    api, server = hub_env.api(), hub_env.server
    server.add_commit(REPO, {"v.txt": "main"})
    api.create_branch(REPO, branch="dev/exp")  # slash: quoted as dev%2Fexp by the client
    api.create_branch(REPO, branch="dev/exp", exist_ok=True)
    with pytest.raises(HfHubHTTPError) as exists:
        api.create_branch(REPO, branch="dev/exp")
    assert exists.value.response.status_code == 409

    dev = api.upload_file(path_or_fileobj=b"dev", path_in_repo="v.txt", repo_id=REPO, revision="dev/exp")
    api.create_tag(REPO, tag="v1", revision="dev/exp")
    refs = api.list_repo_refs(REPO)
    assert {b.name: b.target_commit for b in refs.branches} == {
        "main": server.commit(REPO).oid,
        "dev/exp": dev.oid,
    }
    assert [(t.name, t.target_commit) for t in refs.tags] == [("v1", dev.oid)]

    for revision, content in [("main", b"main"), ("dev/exp", b"dev"), ("v1", b"dev"), (dev.oid, b"dev")]:
        assert Path(hf_hub_download(REPO, "v.txt", revision=revision)).read_bytes() == content
    assert api.model_info(REPO, revision="dev/exp").sha == dev.oid

    with pytest.raises(RevisionNotFoundError):
        api.model_info(REPO, revision="nope")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(REPO, "v.txt", revision="nope")
    with pytest.raises(RevisionNotFoundError):
        snapshot_download(REPO, revision="nope")
    assert not api.revision_exists(REPO, "nope")


def test_missing_repos_entries_and_private_repos(hub_env: HubEnv) -> None:
    api, server = hub_env.api(), hub_env.server
    for call in (
        lambda: api.model_info("ghost/repo"),
        lambda: api.list_repo_files("ghost/repo"),
        lambda: hf_hub_download("ghost/repo", "a.txt"),
        lambda: snapshot_download("ghost/repo"),
    ):
        with pytest.raises(RepositoryNotFoundError):
            call()

    server.add_commit(REPO, {"a.txt": "a"})
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(REPO, "missing.txt")

    api.update_repo_settings(REPO, private=True)
    anonymous = HfApi(endpoint=server.url, token=False)
    with pytest.raises(RepositoryNotFoundError):
        anonymous.model_info(REPO)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(REPO, "a.txt", token=False)
    assert api.model_info(REPO).private is True

    api.delete_repo(REPO)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(REPO)


# huggingface_hub 2.4 itself PUTs LFS content with httpx2's deprecated ``data=<file>``.
@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")
def test_lfs_route_without_xet(hub_env_lfs: HubEnv, tmp_path: Path) -> None:
    server, api = hub_env_lfs.server, hub_env_lfs.api()
    api.create_repo(REPO)
    weights = b"\x01\x02" * 4096
    api.upload_file(path_or_fileobj=weights, path_in_repo="adapter_model.safetensors", repo_id=REPO)
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "big.bin").write_bytes(b"b" * 5000)
    (folder / "config.json").write_text("{}")
    api.upload_folder(repo_id=REPO, folder_path=folder)

    preupload = json.loads(server.requests_matching("POST", r"/preupload/main$")[0].body)
    assert preupload["files"][0]["path"] == "adapter_model.safetensors"
    batch = server.requests_matching("POST", r"\.git/info/lfs/objects/batch$")
    assert len(batch) == 2 and batch[0].bearer == hub_env_lfs.token
    puts = server.requests_matching("PUT", r"/lfs/upload/")
    assert len(puts) == 2 and all(p.header("Authorization") is None for p in puts)  # presigned-style
    assert len(server.requests_matching("POST", r"/lfs/verify$")) == 2
    keys = [line["key"] for line in ndjson(server.requests_matching("POST", r"/commit/main$")[-1].body)]
    assert sorted(keys) == ["file", "header", "lfsFile"]

    entries = {e.path: e for e in api.list_repo_tree(REPO)}
    assert entries["adapter_model.safetensors"].lfs.size == len(weights)
    assert entries["config.json"].lfs is None
    sha256 = entries["adapter_model.safetensors"].lfs.sha256
    path = Path(hf_hub_download(REPO, "adapter_model.safetensors"))
    assert path.read_bytes() == weights
    assert path.resolve().name == sha256  # cache blob named after X-Linked-Etag, as for real LFS files

    batches = len(server.requests_matching("POST", r"lfs/objects/batch$"))
    api.upload_file(path_or_fileobj=weights, path_in_repo="copy.safetensors", repo_id=REPO)
    assert len(server.requests_matching("PUT", r"/lfs/upload/")) == 2  # content already stored: no PUT
    assert len(server.requests_matching("POST", r"lfs/objects/batch$")) == batches + 1
    assert server.files(REPO)["copy.safetensors"] == weights
    assert server.leaks(hub_env_lfs.token) == []


def test_xet_enabled_client_gets_clear_error_for_lfs_answers(hub_server_factory) -> None:
    server = hub_server_factory(force_regular=False)
    api = HfApi(endpoint=server.url, token=server.token)
    api.create_repo(REPO)
    with pytest.raises(Exception, match="xet-write-token"):
        api.upload_file(path_or_fileobj=b"w" * 10, path_in_repo="w.safetensors", repo_id=REPO)


def test_token_never_leaks_outside_authorization(hub_env: HubEnv, tmp_path: Path) -> None:
    api, server = hub_env.api(), hub_env.server
    api.create_repo(REPO, private=True)
    api.upload_file(path_or_fileobj=b"data", path_in_repo="a.txt", repo_id=REPO)
    snapshot_download(REPO, cache_dir=tmp_path / "cache")
    assert server.requests and all(r.bearer == hub_env.token for r in server.requests)
    assert server.leaks(hub_env.token) == []
    assert [r.path for r in server.requests if r.contains(hub_env.token, include_authorization=True)]


def test_broken_download_is_retried(hub_env: HubEnv, no_sleep: None) -> None:
    server = hub_env.server
    payload = bytes(range(256)) * 40
    server.add_commit(REPO, {"adapter.safetensors": payload})
    server.break_download("adapter.safetensors")

    assert Path(hf_hub_download(REPO, "adapter.safetensors")).read_bytes() == payload
    assert server.faults_triggered == [f"break {REPO}/adapter.safetensors"]
    assert len(server.requests_matching("GET", r"/resolve/main/adapter.safetensors$")) == 2


def test_download_that_keeps_breaking_fails_without_partial_file(hub_env: HubEnv, no_sleep: None) -> None:
    server = hub_env.server
    server.add_commit(REPO, {"adapter.safetensors": b"z" * 4000})
    server.break_download("adapter.safetensors", repo_id=REPO, times=100)

    with pytest.raises(httpx2.RemoteProtocolError):
        hf_hub_download(REPO, "adapter.safetensors")
    assert 1 < len(server.faults_triggered) < 100
    assert not [
        p for p in hub_env.cache_dir.rglob("*") if p.is_file() and p.stat().st_size and "blobs" in p.parts
    ]


def test_raw_http_keepalive_range_and_head(hub_server: HubServer) -> None:
    hub_server.add_commit(REPO, {"f.bin": bytes(range(100))})
    host, port = hub_server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        # A POST body followed by more requests on the same socket: only works if bodies are read in full.
        conn.request("POST", "/api/validate-yaml", body=json.dumps({"content": "x" * 70000}))
        assert conn.getresponse().read() == b'{"errors": [], "warnings": []}'
        conn.request("HEAD", f"/{REPO}/resolve/main/f.bin")
        head = conn.getresponse()
        head.read()
        assert head.getheader("Content-Length") == "100" and head.getheader("X-Repo-Commit")
        assert (
            head.getheader("ETag").strip('"')
            == hub_server.get_repo(REPO).commits[head.getheader("X-Repo-Commit")].files["f.bin"].git_oid
        )
        conn.request("GET", f"/{REPO}/resolve/main/f.bin", headers={"Range": "bytes=10-19"})
        ranged = conn.getresponse()
        assert (ranged.status, ranged.read()) == (206, bytes(range(10, 20)))
        assert ranged.getheader("Content-Range") == "bytes 10-19/100"
        conn.request("GET", f"/{REPO}/resolve/main/f.bin", headers={"Range": "bytes=-5"})
        assert conn.getresponse().read() == bytes(range(95, 100))
        conn.request("GET", f"/{REPO}/resolve/main/f.bin", headers={"Range": "bytes=200-"})
        unsatisfiable = conn.getresponse()
        unsatisfiable.read()
        assert unsatisfiable.status == 416
        conn.request("GET", f"/{REPO}/resolve/main/missing.bin")
        missing = conn.getresponse()
        missing.read()
        assert (missing.status, missing.getheader("X-Error-Code")) == (404, "EntryNotFound")
    finally:
        conn.close()
    assert len(hub_server.requests) == 6  # all six on one keep-alive connection


def test_injected_status_errors(hub_server: HubServer) -> None:
    hub_server.add_commit(REPO, {"a.txt": "a"})
    api = HfApi(endpoint=hub_server.url, token=hub_server.token)
    hub_server.fail_requests(rf"^/api/models/{REPO}$", status=500, method="GET")
    with pytest.raises(HfHubHTTPError) as failure:
        api.model_info(REPO)  # model_info does not retry
    assert failure.value.response.status_code == 500
    assert api.model_info(REPO).sha == hub_server.commit(REPO).oid


def test_tree_pagination_dataset_repos_and_pull_requests(hub_server_factory, tmp_path: Path) -> None:
    server = hub_server_factory(tree_page_size=2)
    api = HfApi(endpoint=server.url, token=server.token)
    api.create_repo("data", repo_type="dataset")
    dataset = f"{server.user}/data"
    files = {f"part-{i}.jsonl": f'{{"i": {i}}}' for i in range(5)}
    api.create_commit(
        dataset,
        repo_type="dataset",
        operations=[CommitOperationAdd(path_in_repo=p, path_or_fileobj=c.encode()) for p, c in files.items()],
        commit_message="data",
    )
    assert api.list_repo_files(dataset, repo_type="dataset") == [".gitattributes", *files]
    assert len(server.requests_matching("GET", r"/api/datasets/.*/tree/main")) == 3
    assert api.repo_info(dataset, repo_type="dataset").id == dataset
    path = hf_hub_download(
        dataset, "part-3.jsonl", repo_type="dataset", endpoint=server.url, cache_dir=tmp_path
    )
    assert Path(path).read_text() == '{"i": 3}'

    pr = api.upload_file(
        path_or_fileobj=b"pr", path_in_repo="pr.txt", repo_id=dataset, repo_type="dataset", create_pr=True
    )
    assert pr.pr_num == 1
    refs = api.list_repo_refs(dataset, repo_type="dataset", include_pull_requests=True)
    assert [r.ref for r in refs.pull_requests] == ["refs/pr/1"]
    assert "pr.txt" in api.list_repo_files(dataset, repo_type="dataset", revision="refs/pr/1")
    assert "pr.txt" not in api.list_repo_files(dataset, repo_type="dataset")


def test_subprocess_reads_environment(hub_env: HubEnv) -> None:
    hub_env.server.add_commit(REPO, {"a.txt": "from the fake hub"})
    script = textwrap.dedent(
        f"""
        from huggingface_hub import HfApi, hf_hub_download
        print(HfApi().whoami()["name"])
        print(open(hf_hub_download({REPO!r}, "a.txt")).read())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=hub_env.subprocess_env(),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == [hub_env.server.user, "from the fake hub"]
    assert list(hub_env.cache_dir.glob("models--*/snapshots/*/a.txt"))
    assert all(r.bearer == hub_env.token for r in hub_env.server.requests)
