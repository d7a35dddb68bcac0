"""Keeping secrets out of messages and logs: the Hub token, anything token-shaped, credential headers and
URL query strings (signed download redirects carry credentials there).

:func:`redact` is what one-line Hub errors are built from; :class:`RedactingFilter`, which the CLI puts on
its log handler, applies it to every log record, so ``-v``/``-vv`` output stays clean even when a hostile
server echoes the token back in a response header that the HTTP library logs at debug level.
"""

from __future__ import annotations

import logging
import os
import re

_TOKEN_RE = re.compile(r"\bhf_[A-Za-z0-9_]{6,}")
_BEARER_RE = re.compile(r"(?i)\b(authorization|bearer)\b[\s:=]+(?:bearer\s+)?[^\s'\",)]+")
# A credential header as HTTP libraries log it: `Name: value`, `'Name': 'value'` or `(b'Name', b'value')`.
_HEADER_RE = re.compile(
    r"(?i)((?:proxy-)?authorization|(?:set-)?cookie|x-[\w-]*(?:token|key|secret)|x-amz-security-token)"
    r"(['\"]?\s*[:=,]\s*b?['\"]?)([^'\"\r\n)]*)"
)
_QUERY_RE = re.compile(r"(https?://[^\s?'\"<>]+)\?[^\s'\"<>]*")


def current_token() -> str | None:
    """The token ``huggingface_hub`` would send (``HF_TOKEN`` or the stored login), without any network."""
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if token:
        return token
    try:
        from huggingface_hub import get_token

        return get_token()
    except Exception:  # OIDC exchange failures and the like: treat as "no token"
        return None


def redact(text: str, token: str | None = None) -> str:
    """``text`` with the token, token-shaped strings, credential header values and URL queries removed."""
    token = token if token is not None else current_token()
    if token and len(token) >= 4:
        text = text.replace(token, "***")
    text = _TOKEN_RE.sub("hf_***", text)
    text = _BEARER_RE.sub(r"\1 ***", text)
    text = _HEADER_RE.sub(r"\1\2***", text)
    return _QUERY_RE.sub(r"\1", text)


class RedactingFilter(logging.Filter):
    """Rewrites every record's message through :func:`redact` (the token looked up at each record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler to report
            return True
        token = current_token()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = redact(message, token), ()
        if record.exc_text:
            record.exc_text = redact(record.exc_text, token)
        return True


def install() -> None:
    """Put a :class:`RedactingFilter` on every handler of the root logger (the CLI's stderr handler)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
