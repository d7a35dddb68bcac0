"""Pytest fixtures that point ``huggingface_hub`` (in-process and in subprocesses) at a ``HubServer``.

Why: ``huggingface_hub`` reads ``HF_ENDPOINT``, ``HF_HOME``, ``HF_HUB_OFFLINE`` and
``HF_HUB_DISABLE_XET`` once, at import time (``huggingface_hub.constants``), and our conftest
imports it early (and sets ``HF_HUB_OFFLINE=1``). Setting environment variables inside a test is
therefore not enough for in-process calls: ``hub_env`` also patches the constants (and the endpoint
of the module-level ``HfApi`` behind ``huggingface_hub.upload_file`` & co). Subprocesses import
afresh, so for them the environment alone works: use ``HubEnv.env`` / ``HubEnv.subprocess_env()``.
Project code should still pass ``endpoint=`` explicitly where it can.

Loading (``tests/`` has no ``__init__.py``; conftest puts ``tests/`` on ``sys.path``)::

    # tests/conftest.py (top-level conftest, so pytest_plugins is allowed there)
    pytest_plugins = ["hub_fixtures"]

Fixtures:
    ``hub_server``         fresh ``HubServer`` per test (defaults: Xet-safe, every upload "regular").
    ``hub_server_factory`` ``make(**HubServer options) -> HubServer``, each stopped at teardown.
                           Both only switch the client online; pass ``endpoint=server.url`` yourself.
    ``hub_env``            ``HubEnv`` for ``hub_server``: env vars + constants patched, HF_HOME in tmp.
    ``hub_env_lfs``        like ``hub_env`` but Xet disabled and the server answering "lfs" for
                           large/binary files, so uploads take the Git LFS batch route.
Teardown fails the test if the server hit an internal error (it answers those with 501).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

try:  # imported as ``tests.hub_fixtures``
    from .hubserver import DEFAULT_TOKEN, DEFAULT_USER, HubServer
except ImportError:  # imported as top-level ``hub_fixtures`` (tests/ on sys.path)
    from hubserver import DEFAULT_TOKEN, DEFAULT_USER, HubServer  # type: ignore[no-redef]

__all__ = [
    "DEFAULT_TOKEN",
    "DEFAULT_USER",
    "HubEnv",
    "HubServer",
    "apply_hub_env",
    "hub_env",
    "hub_env_lfs",
    "hub_server",
    "hub_server_factory",
    "start_hub_server",
]

# Variables that would silently redirect or disable the client if inherited from the developer's shell.
_CLEARED_VARS = (
    "HUGGING_FACE_HUB_TOKEN",
    "HF_TOKEN_PATH",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "HF_XET_CACHE",
    "HF_ASSETS_CACHE",
    "HF_OIDC_RESOURCE",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN",
    "HF_HUB_ENABLE_HF_TRANSFER",
    "HUGGINGFACE_CO_STAGING",
    "TRANSFORMERS_OFFLINE",
    "HF_DATASETS_OFFLINE",
)


def start_hub_server(**options: Any) -> HubServer:
    """Start a ``HubServer`` outside pytest (scripts, session fixtures); call ``.stop()`` when done."""
    return HubServer(**options).start()


@dataclass
class HubEnv:
    """What a test needs to talk to the fake Hub: server, endpoint, token, isolated HF_HOME."""

    server: HubServer
    hf_home: Path
    token: str
    env: dict[str, str] = field(default_factory=dict)  # the variables set for this test

    @property
    def endpoint(self) -> str:
        return self.server.url

    @property
    def cache_dir(self) -> Path:
        """``HF_HUB_CACHE`` (``$HF_HOME/hub``), where ``hf_hub_download`` stores files."""
        return self.hf_home / "hub"

    def subprocess_env(self, **extra: str) -> dict[str, str]:
        """Full environment for ``subprocess.run(..., env=...)``: ``os.environ`` + hub vars + extra."""
        return {**os.environ, **self.env, **extra}

    def api(self, token: str | bool | None = None) -> Any:
        """An ``HfApi`` bound to the server with an explicit endpoint (what project code should do)."""
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.endpoint, token=self.token if token is None else token)


def apply_hub_env(
    monkeypatch: pytest.MonkeyPatch,
    server: HubServer,
    hf_home: Path,
    *,
    token: str | None = None,
    disable_xet: bool | None = None,
) -> HubEnv:
    """Point env vars *and* the already-imported ``huggingface_hub`` constants at ``server``."""
    hf_home.mkdir(parents=True, exist_ok=True)
    token = server.token if token is None else token
    env = server.client_env(hf_home=str(hf_home), token=token, disable_xet=disable_xet)
    env["HF_HUB_OFFLINE"] = "0"  # conftest defaults it to 1 for the offline suite
    for name in _CLEARED_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("HF_HUB_DISABLE_XET", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    from huggingface_hub import constants, hf_api

    hub_cache = str(hf_home / "hub")
    patched = {
        "ENDPOINT": server.url,
        "HUGGINGFACE_CO_URL_TEMPLATE": server.url + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HOME": str(hf_home),
        "HF_HUB_CACHE": hub_cache,
        "HUGGINGFACE_HUB_CACHE": hub_cache,
        "HF_XET_CACHE": str(hf_home / "xet"),
        "HF_ASSETS_CACHE": str(hf_home / "assets"),
        "HF_TOKEN_PATH": str(hf_home / "token"),
        "HF_STORED_TOKENS_PATH": str(hf_home / "stored_tokens"),
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": False,
        "HF_HUB_DISABLE_XET": "HF_HUB_DISABLE_XET" in env,
    }
    for name, value in patched.items():
        monkeypatch.setattr(constants, name, value, raising=False)
    # ``huggingface_hub.upload_file`` etc. are methods of a module-level HfApi built at import time.
    monkeypatch.setattr(hf_api.api, "endpoint", server.url, raising=False)
    return HubEnv(server=server, hf_home=hf_home, token=token, env=env)


def _close_client_session() -> None:
    """Drop the client's pooled keep-alive connections to a server that is going away."""
    try:
        from huggingface_hub.utils import close_session
    except ImportError:  # pragma: no cover - older/newer layouts
        return
    close_session()


def _finish(server: HubServer) -> None:
    server.stop()
    _close_client_session()
    if server.errors:
        pytest.fail("hubserver internal errors:\n" + "\n".join(server.errors), pytrace=False)


def _go_online(monkeypatch: pytest.MonkeyPatch) -> None:
    """Undo conftest's ``HF_HUB_OFFLINE=1``: an offline client refuses to talk to any server."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False, raising=False)


@pytest.fixture
def hub_server_factory(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., HubServer]]:
    """``make(**options)`` starts a ``HubServer`` with those constructor options (client set online)."""
    _go_online(monkeypatch)
    servers: list[HubServer] = []

    def make(**options: Any) -> HubServer:
        servers.append(start_hub_server(**options))
        return servers[-1]

    yield make
    for server in servers:
        _finish(server)


@pytest.fixture
def hub_server(hub_server_factory: Callable[..., HubServer]) -> HubServer:
    """A fresh, empty server for this test (starting one takes about a millisecond)."""
    return hub_server_factory()


@pytest.fixture
def hub_env(hub_server: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HubEnv:
    """``hub_server`` wired in: HF_ENDPOINT, HF_TOKEN (valid), HF_HOME=tmp, telemetry off, online."""
    return apply_hub_env(monkeypatch, hub_server, tmp_path / "hf_home")


@pytest.fixture
def hub_env_lfs(hub_server: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HubEnv:
    """``hub_env`` on the LFS route: ``HF_HUB_DISABLE_XET=1`` and ``force_regular=False``."""
    hub_server.force_regular = False
    return apply_hub_env(monkeypatch, hub_server, tmp_path / "hf_home", disable_xet=True)
