"""Publishing and installing experts and whole registries through the Hugging Face Hub.

An adapter fetched from the network is untrusted input: a pull fetches into a temporary place,
verifies everything and only then registers it (:mod:`.pull`); a push snapshots the files and
uploads them in one commit (:mod:`.push`). :mod:`.client` turns the client's errors into one-line
messages that never carry a token; :mod:`.cards` writes what a published repo says about itself.
"""

from __future__ import annotations

from .cards import EXPERT_META, expert_card, expert_metadata, registry_card
from .client import HubError, check_repo_id, endpoint, sanitize
from .pull import PulledRegistry, pull_expert, pull_registry
from .push import PushResult, push_expert, push_registry

__all__ = [
    "EXPERT_META",
    "HubError",
    "Progress",
    "PulledRegistry",
    "PushResult",
    "check_repo_id",
    "endpoint",
    "expert_card",
    "expert_metadata",
    "pull_expert",
    "pull_registry",
    "push_expert",
    "push_registry",
    "registry_card",
    "sanitize",
]
