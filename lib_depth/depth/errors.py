"""The one error type users see: it always names the file and what was wrong with it."""

from __future__ import annotations

from pathlib import Path


class DepthError(Exception):
    """A user-facing failure (bad file, bad option); printed as one line, never as a traceback."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        self.reason = message
        super().__init__(message if path is None else f"{path}: {message}")


class OptionsError(DepthError):
    """The options do not fit (bits, background limit, a cutoff below the nearest depth): the file
    itself may be fine. The command line prints it like any DepthError; HTTP answers 422."""
