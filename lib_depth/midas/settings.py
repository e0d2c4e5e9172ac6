"""Where the MiDaS weights are and how to run them: the key of the per-process estimator cache."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..network_base.settings import PRECISION_ALIASES as _PRECISION_ALIASES  # noqa: F401 (its old name)
from ..network_base.settings import PRECISIONS, NetworkSettings
from .weights import candidates, explicit_file

__all__ = ["PRECISIONS", "MidasSettings", "find_weights"]


@dataclass(frozen=True)
class MidasSettings(NetworkSettings):
    """`NetworkSettings` for MiDaS: `download_url` None is Hugging Face's lllyasviel/Annotators copy."""


def find_weights(settings: MidasSettings = MidasSettings()) -> Path | None:
    """The file that would be loaded (explicit, else the first copy found), without hashing it."""
    if settings.weights:
        return explicit_file(settings.weights)
    found = candidates(settings.search_dirs, settings.models_dir)
    return found[0] if found else None
