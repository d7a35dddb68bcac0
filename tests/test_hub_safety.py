"""Hub-side safety: `pull-registry --force` replaces only a registry, hostile file names never reach the
disk, the token stays out of -v/-vv logs even when a hostile server echoes it, pulls stage inside the
registry where `validate --clean` finds a crash's leftovers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from test_hub import USER, error_line, record_router

from mole_core import Registry
from mole_core.hub import pull_expert, push_expert, push_registry

if TYPE_CHECKING:
    from hub_fixtures import HubEnv

pytest_plugins = ["hub_fixtures"]


@pytest.fixture
def pushed(hub_env: HubEnv, tmp_path: Path, tiny_base: Path, adapter_factory) -> str:  # noqa: ANN001
    source = Registry.init(tmp_path / "source", base=str(tiny_base))
    source.add_expert("math", adapter_factory(rank=2, seed=20))
    source.add_expert("words", adapter_factory(rank=4, seed=21))
    record_router(source)
    push_registry(source, f"{USER}/reg")
    return f"{USER}/reg"


def _tree(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))
    }


def test_force_replaces_a_registry_but_never_foreign_files(
    pushed: str, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "copy"
    assert cli("pull-registry", pushed, str(copy)).exit_code == 0
    (copy / "notes.txt").write_text("mine")
    (copy / "data").mkdir()
    (copy / "data" / "big.csv").write_text("1,2,3")
    before = _tree(copy)
    line = error_line(cli("pull-registry", pushed, str(copy), "--force"))
    assert "not part of a registry (data, notes.txt)" in line and "--force replaces only a registry" in line
    assert _tree(copy) == before

    (copy / "notes.txt").unlink()
    (copy / "data" / "big.csv").unlink()
    (copy / "data").rmdir()
    (copy / ".push.0123456789ab.tmp").mkdir()  # MoLE's own leftovers are registry content
    assert cli("pull-registry", pushed, str(copy), "--force").exit_code == 0
    assert Registry(copy).validate() == []

    monkeypatch.chdir(copy)  # `.` (or any directory holding the current one) is never replaced
    for target in (".", str(copy), str(tmp_path)):
        line = error_line(cli("pull-registry", pushed, target, "--force"))
        assert "is the current directory" in line
    assert Registry(copy).validate() == []


def test_hub_file_names_with_dot_dot_are_refused_in_one_line(
    pushed: str, hub_env: HubEnv, tmp_path: Path, cli: Any
) -> None:
    hub_env.server.add_commit(pushed, {"routers/test-bytes/../../../escape.txt": b"x"})
    line = error_line(cli("pull-registry", pushed, str(tmp_path / "copy")))
    assert "must be relative and inside the registry" in line
    assert not (tmp_path / "copy").exists() and not (tmp_path / "escape.txt").exists()
    assert not list(tmp_path.glob(".copy.*"))


def test_token_never_reaches_verbose_logs_even_when_echoed(
    hub_env: HubEnv, registry: Registry, adapter_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hostile server echoes the Authorization header back in response headers, which the HTTP library
    logs at debug level, and hands out URLs with credentials in the query."""
    import hubserver

    secret = hub_env.server.token
    original = hubserver._Handler._send

    def echoing(self, response) -> None:  # noqa: ANN001
        auth = self.headers.get("Authorization") or ""
        response.headers = {
            **response.headers,
            "X-Echo": auth,
            "Set-Cookie": f"session={auth.removeprefix('Bearer ')}",
            "X-Debug-Url": f"https://cdn.example/file?X-Amz-Signature={secret}&token=abc",
        }
        original(self, response)

    monkeypatch.setattr(hubserver._Handler, "_send", echoing)
    source = Registry.init(tmp_path / "source", base=registry.load().base.id)
    source.add_expert("math", adapter_factory(rank=2, seed=20))
    push_expert(source, "math", f"{USER}/math")
    env = hub_env.subprocess_env(HF_TOKEN=secret)
    done = subprocess.run(  # -vv: every INFO (-v) line too, and the HTTP library's debug lines
        [sys.executable, "-m", "mole_core", "-vv", "pull", f"{USER}/math", "--registry", str(registry.root)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert secret not in done.stderr + done.stdout
    assert "X-Amz-Signature" not in done.stderr and "HTTP Request: GET" in done.stderr
    assert "x-echo" in done.stderr.lower(), "the echoed header was logged (and redacted)"


def test_pull_stages_inside_the_registry_and_leaves_nothing(
    hub_env: HubEnv, registry: Registry, adapter_factory, tmp_path: Path
) -> None:
    source = Registry.init(tmp_path / "source", base=registry.load().base.id)
    source.add_expert("math", adapter_factory(rank=2, seed=20))
    push_expert(source, "math", f"{USER}/math")
    seen: list[Path] = []
    from mole_core.hub import pull as pull_module

    original = pull_module._fetch_expert

    def spy(source, prefix, tmp, *args):  # noqa: ANN001, ANN202
        seen.append(tmp)
        return original(source, prefix, tmp, *args)

    pull_module._fetch_expert = spy
    try:
        pull_expert(registry, f"{USER}/math")
    finally:
        pull_module._fetch_expert = original
    assert seen and seen[0].parent == registry.root and seen[0].name.startswith(".pull.")
    assert not seen[0].exists() and registry.leftovers() == []
