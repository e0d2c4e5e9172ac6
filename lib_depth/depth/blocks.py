"""Run a function over row blocks of an image on every core.

numpy's ufuncs and cv2 release the GIL on large arrays, so threads over row blocks of ~256K
pixels use both cores of a laptop and keep each block's temporaries in cache instead of making
full-size float copies (faster, and the peak memory of a 4096x4096 render stays low).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

BLOCK_PIXELS = 1 << 18

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="depth-blocks")
        return _pool


def _forget_pool() -> None:
    """A forked child has the pool object but none of its threads (work sent there would wait forever)."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def row_blocks(rows: int, cols: int, block_pixels: int = BLOCK_PIXELS) -> list[slice]:
    step = max(1, block_pixels // max(cols, 1))
    return [slice(start, min(start + step, rows)) for start in range(0, rows, step)]


def for_each_block(fn: Callable[[slice], object], shape: tuple[int, ...]) -> None:
    """Call `fn(rows)` for every row block; in parallel when there is more than one block."""
    blocks = row_blocks(shape[0], shape[1] if len(shape) > 1 else 1)
    if len(blocks) == 1 or (os.cpu_count() or 1) == 1:
        for block in blocks:
            fn(block)
        return
    for _ in _executor().map(fn, blocks):
        pass


def submit(fn: Callable[..., object], *args: object, **kwargs: object) -> Future:
    """Run one task on the same pool (e.g. a second PNG encoder beside the first)."""
    return _executor().submit(fn, *args, **kwargs)
