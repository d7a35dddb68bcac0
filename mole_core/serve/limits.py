"""Two small ASGI middlewares: a request body size limit (413) and counting requests by status."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import TooLarge
from .metrics import ServeMetrics

ENDPOINTS = ("/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics")


class BodyLimit:
    """Reads a request body up to ``max_bytes`` before the app sees it; a larger one is a 413 at once,
    whether it announces its length or streams chunks."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(send)
            return
        body, more = [], True
        size = 0
        while more:
            message = await receive()
            if message["type"] != "http.request":
                body.append(message)  # a disconnect: hand it on as is
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(send)
                return
            body.append(message)
            more = message.get("more_body", False)
        replay = iter(body)

        async def receive_again() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, receive_again, send)

    async def _refuse(self, send: Send) -> None:
        error = TooLarge(f"the request body is over this server's limit of {self.max_bytes} bytes")
        payload = json.dumps(error.body()).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


class CountRequests:
    """``mole_requests_total{endpoint, status}`` for every HTTP request (unknown paths as 'other')."""

    def __init__(self, app: ASGIApp, metrics: ServeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status: dict[str, Any] = {"code": 500}

        async def send_counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            path = scope.get("path", "")
            endpoint = (
                path if path in ENDPOINTS else "/v1/models" if path.startswith("/v1/models/") else "other"
            )
            self.metrics.requests.labels(endpoint=endpoint, status=str(status["code"])).inc()
