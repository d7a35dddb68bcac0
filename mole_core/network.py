"""Whether to use the network: one rule for datasets, routers and anything else that could reach a Hub.

An explicit choice wins; otherwise MoLE is offline when an ``HF_*_OFFLINE`` variable is set or when the Hub
endpoint does not accept a connection within two seconds (probed once per process), so a machine without
network never waits on the client's retries.
"""

from __future__ import annotations

import os
import socket
import threading
from functools import cache
from urllib.parse import urlparse

OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@cache
def hub_reachable(timeout: float = 2.0) -> bool:
    """Whether the Hub endpoint accepts a TCP connection within ``timeout`` seconds (probed once)."""
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme != "http" else 80)
    result: list[bool] = []

    def probe() -> None:  # DNS lookups ignore socket timeouts, so the probe runs in a thread
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def resolve_offline(offline: bool | None = None) -> bool:
    """The rule: an explicit choice wins; else offline if an HF_*_OFFLINE variable is set or the Hub is unreachable."""
    if offline is not None:
        return offline
    if any(_truthy(os.environ.get(var)) for var in OFFLINE_VARS):
        return True
    return not hub_reachable()
