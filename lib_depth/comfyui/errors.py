"""Node failures as the command line's one-line messages: ComfyUI shows the exception's text in its
error dialog and `/history`, and keeps serving; Cancel passes through untouched."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from ..depth.errors import DepthError, internal_error
from .host import InterruptProcessingException

F = TypeVar("F", bound=Callable)


def one_line(method: F) -> F:
    """A DepthError as it is (it names the file and what is wrong); anything else as
    `internal error in Depth Tools: ...` with its traceback logged once; Cancel re-raised."""

    @functools.wraps(method)
    def run(*args: object, **kwargs: object) -> object:
        try:
            return method(*args, **kwargs)
        except (DepthError, InterruptProcessingException):
            raise
        except Exception as exc:
            raise internal_error(exc) from None

    return run  # type: ignore[return-value]
