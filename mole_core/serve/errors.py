"""OpenAI-shaped HTTP errors: ``{"error": {"message", "type", "param", "code"}}`` with the right status.

Anything the server refuses is a :class:`ServeError`; the app turns it into that JSON body. A
:class:`~mole_core.errors.MoleError` from the library (a user's mistake found deeper down) becomes a 400;
any other exception is a bug: logged with its traceback on the server, a bare 500 for the client.
"""

from __future__ import annotations

from typing import Any

from ..errors import MoleError


class ServeError(MoleError):
    """An error with an HTTP status and OpenAI's ``type``/``code`` fields."""

    status = 400
    type = "invalid_request_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        if code is not None:
            self.code = code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": str(self), "type": self.type, "param": self.param, "code": self.code}}


class BadRequest(ServeError):
    """Malformed JSON, a wrong field, an unsupported option (400)."""

    code = "invalid_request"


class ContextTooLong(ServeError):
    """The prompt plus ``max_tokens`` does not fit the model's context (400, as OpenAI answers it)."""

    code = "context_length_exceeded"


class Unauthorized(ServeError):
    """A missing or wrong API key (401). The message never repeats the key."""

    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class ModelNotFound(ServeError):
    """``model`` names no expert, nor ``auto`` or ``base`` (404)."""

    status = 404
    code = "model_not_found"


class RouteNotFound(ServeError):
    """No such endpoint (404) or method (405)."""

    status = 404
    code = "not_found"


class TooLarge(ServeError):
    """The request body is over the server's size limit (413)."""

    status = 413
    code = "request_too_large"


class QueueFull(ServeError):
    """Too many requests waiting already (429): retry later."""

    status = 429
    type = "rate_limit_error"
    code = "queue_full"


class ClientGone(ServeError):
    """The client closed the connection before the answer (499, as nginx counts it; nobody reads it)."""

    status = 499
    code = "client_closed_request"


class EngineUnavailable(ServeError):
    """The engine is down, stopping, or unreachable (503)."""

    status = 503
    type = "server_error"
    code = "engine_unavailable"


class EngineError(ServeError):
    """The engine failed on this request, or answered with something unusable (502 remote, 500 embedded)."""

    status = 500
    type = "server_error"
    code = "engine_error"


def internal_error_body() -> dict[str, Any]:
    """What a client sees for a bug: no traceback, no detail (the server log has them)."""
    return {
        "error": {"message": "internal server error", "type": "server_error", "param": None, "code": None}
    }
