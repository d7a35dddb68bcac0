"""Talking to the Hub: the endpoint, the client, one-line errors that never carry a token, downloads.

Tokens are never handled here: every call passes ``token=None`` so ``huggingface_hub`` resolves
``HF_TOKEN`` or the stored login itself, and every error message is built by MoLE (never the
client's text verbatim, which may carry URLs and headers) and scrubbed of anything token-like.
The endpoint is read at call time (``HF_ENDPOINT``), not at import time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import MoleError
from ..progress import Progress
from ..redact import current_token, redact

log = logging.getLogger("mole_core.hub")


class HubError(MoleError):
    """The Hub refused or failed a request: missing repo or revision, bad token, dropped connection."""


def endpoint() -> str:
    """The Hub endpoint, read now: ``HF_ENDPOINT`` if set, else what ``huggingface_hub`` resolved."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def _api() -> Any:
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint(), token=None)  # None: HF_TOKEN or the stored login, never argv


def _current_token() -> str | None:
    return current_token()


def sanitize(text: str) -> str:
    """One line with the active token, anything token-shaped, auth headers and signed URL queries removed."""
    text = redact(text, _current_token() or "")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first[:200]


def _transport_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module in ("httpx2", "httpx", "requests"):
        try:
            mod = __import__(module)
        except ImportError:
            continue
        base = getattr(mod, "RequestError", None) or getattr(
            getattr(mod, "exceptions", None), "RequestException", None
        )
        if isinstance(base, type) and issubclass(base, BaseException):
            errors.append(base)
    return tuple(errors)


@contextmanager
def _hub_call(
    action: str, repo_id: str, revision: str | None = None, filename: str | None = None
) -> Iterator[None]:
    """Turn the client's exceptions into one-line :class:`HubError` messages that never carry a token."""
    from huggingface_hub import errors as hf

    where = f"{repo_id}@{revision}" if revision else repo_id
    try:
        yield
    except MoleError:
        raise
    except hf.GatedRepoError:
        raise HubError(
            f"Hub repo {repo_id} is gated: accept its terms on the Hub with the account of HF_TOKEN"
        ) from None
    except hf.RepositoryNotFoundError:
        raise HubError(f"Hub repo {repo_id} not found (or private: set HF_TOKEN)") from None
    except hf.RevisionNotFoundError:
        raise HubError(f"revision {revision!r} not found in Hub repo {repo_id}") from None
    except hf.OfflineModeIsEnabled:
        raise HubError(
            "HF_HUB_OFFLINE=1 is set, so the Hub cannot be reached (unset it to push or pull)"
        ) from None
    except hf.LocalEntryNotFoundError:
        raise HubError(f"cannot reach the Hub at {sanitize(endpoint())} to {action} {where}") from None
    except (hf.EntryNotFoundError, hf.RemoteEntryNotFoundError):
        raise HubError(f"{filename or 'a file'} not found in Hub repo {where}") from None
    except hf.HfHubHTTPError as exc:
        status = exc.response.status_code if getattr(exc, "response", None) is not None else None
        if status == 401:
            hint = (
                "the Hub rejected the token (HTTP 401): check HF_TOKEN or run `hf auth login`"
                if _current_token()
                else "the Hub needs a token for this (HTTP 401): set HF_TOKEN or run `hf auth login`"
            )
            raise HubError(f"cannot {action} {where}: {hint}") from None
        if status == 403:
            raise HubError(
                f"cannot {action} {where}: the token has no permission for it (HTTP 403; a write token is needed to push)"
            ) from None
        detail = sanitize(getattr(exc, "server_message", None) or "")
        raise HubError(
            f"cannot {action} {where}: Hub answered HTTP {status}" + (f" ({detail})" if detail else "")
        ) from None
    except hf.HFValidationError as exc:
        raise HubError(f"invalid Hub repo id or revision {where!r}: {sanitize(str(exc))}") from None
    except _transport_errors() as exc:
        detail = sanitize(str(exc))
        doing = f"downloading {filename} from {where}" if filename else f"trying to {action} {where}"
        raise HubError(
            f"connection to the Hub failed while {doing} ({type(exc).__name__}{': ' + detail if detail else ''})"
        ) from None


@contextmanager
def _bars(enabled: bool) -> Iterator[None]:
    """``huggingface_hub``'s tqdm bars only when the caller asked for progress (the CLI does)."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_disabled = are_progress_bars_disabled()
    if not enabled and not was_disabled:
        disable_progress_bars()
    try:
        yield
    finally:
        if not enabled and not was_disabled:
            enable_progress_bars()


def _say(progress: Progress | None, message: str) -> None:
    log.info("%s", message)
    if progress is not None:
        progress(message, 0, 0)  # a status line: nothing to count


def is_repo_id(text: str) -> bool:
    """Whether ``text`` is a valid Hub repo id (``NAME`` or ``ORG/NAME``), by ``huggingface_hub``'s own rules."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not isinstance(text, str) or not text:
        return False
    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


def check_repo_id(repo_id: str) -> str:
    """Refuse what cannot be a Hub repo id before any request is made."""
    if not is_repo_id(repo_id):
        raise HubError(f"invalid Hub repo id {repo_id!r} (expected NAME or ORG/NAME)")
    return repo_id
