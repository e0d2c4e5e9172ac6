"""The one error type users see: it always names the file and what was wrong with it.

A bug of ours is still a readable line for the user ("internal error in Depth Tools: ..."), and
its traceback goes to the console once, where it is caught (`internal_error`).
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("lib_depth")


class DepthError(Exception):
    """A user-facing failure (bad file, bad option); printed as one line, never as a traceback."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        self.reason = message
        super().__init__(message if path is None else f"{path}: {message}")


class InternalError(DepthError):
    """An unexpected exception (our bug, or a library's), already logged with its traceback."""


def internal_error(exc: BaseException, path: str | Path | None = None, context: str = "") -> InternalError:
    """`exc` as the one line users see; its traceback is logged here, once (callers re-raise this)."""
    if isinstance(exc, InternalError):
        return exc
    log.error("internal error in Depth Tools%s", f" ({context})" if context else "", exc_info=exc)
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return InternalError(f"internal error in Depth Tools: {type(exc).__name__}: {text}".rstrip(": "), path)


def failure_line(exc: BaseException, path: str | Path, what: str = "image") -> str:
    """The one line a failed file (or frame: `what`) gets in a batch: a user's mistake as it is,
    naming the file; memory running out as such; a bug as `internal_error`'s line."""
    if isinstance(exc, DepthError):
        return str(exc) if exc.path else f"{path}: {exc}"
    if isinstance(exc, MemoryError):
        return f"{path}: not enough memory for this {what}"
    return str(internal_error(exc, path))


class ImageTooLarge(DepthError):
    """More pixels than allowed, refused from the header before anything is decoded (HTTP 413)."""


class OptionsError(DepthError):
    """The options do not fit (bits, background limit, a cutoff below the nearest depth): the file
    itself may be fine. The command line prints it like any DepthError; HTTP answers 422."""
