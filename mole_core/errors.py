"""Exceptions the CLI turns into one-line messages.

Anything derived from :class:`MoleError` is a *user* problem (bad input, missing file, conflicting
values): the CLI prints ``error: <message>`` and exits with :attr:`MoleError.exit_code`. Any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class MoleError(Exception):
    """A problem the user can fix; its message is one line."""

    exit_code = 1

    def __str__(self) -> str:
        # User-supplied values can hold newlines or escape sequences; the promise is one printable line.
        from .display import printable

        return printable(super().__str__())


class ManifestError(MoleError):
    """``mole.toml`` cannot be read: bad TOML, an unknown field, a wrong type, a duplicate name."""

    exit_code = 2

    def __init__(self, path: object, field: str | None, message: str) -> None:
        self.path = str(path)
        self.field = field
        where = f"{self.path}: {field}: " if field else f"{self.path}: "
        super().__init__(where + message)


class AdapterError(MoleError):
    """An adapter directory is missing, malformed, or contradicts what the user or registry says."""


class DatasetError(MoleError):
    """A named dataset could not be loaded (the Hub unreachable, a plugin's loader failing)."""


class NotFoundError(MoleError):
    """A named expert, router, plugin or dataset does not exist."""


class RegistryBusyError(MoleError):
    """Another process holds a lock the operation needs (e.g. two trainings of one expert)."""


class CacheFullError(MoleError):
    """More distinct experts are needed at once than may be attached (``max_loaded_experts``), or every
    attached one is pinned by a running batch."""
