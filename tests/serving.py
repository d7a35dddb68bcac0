"""Helpers for the server tests: run an app with uvicorn on a free loopback port in a thread."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import httpx


@contextlib.contextmanager
def running(app) -> Iterator[str]:  # noqa: ANN001 - a FastAPI app
    """Serve ``app`` on 127.0.0.1 (a free port) until the block ends; yields the base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def metric(url: str, name: str) -> float:
    """One sample of the server's Prometheus metrics (0 when absent), e.g. 'mole_abandoned_rows_total'."""
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.split(" ")[0] == name:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def wait_for(condition, timeout: float = 20.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()
