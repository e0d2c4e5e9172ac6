"""Worker processes for `--jobs`, started the fast way (fork) only where that is safe.

Why. A forked child has the parent's memory but none of its threads. OpenEXR's decode threads
(`exr.decode_threads_started`) are a C++ pool, and a child forked after the parent started them
waits forever at its first decode for threads it does not have. So a process that has decoded an
EXR starts its workers with forkserver (spawn where there is none: each worker imports afresh); one
that has not (the command line's main process, which leaves every frame to its workers) forks
them, which costs nothing. Each worker decodes with its share of the cores, so N workers do not
start N pools of every core's threads.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor

from . import exr


def _start_worker(decode_threads: int, ignore_interrupts: bool) -> None:
    if ignore_interrupts:
        # Ctrl-C reaches every process of the terminal's group: only the main one handles it, so
        # the workers finish the frame in hand (atomically) and print no traceback
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    exr.set_decode_threads(decode_threads)


def start_method() -> str:
    """fork while no decode thread runs here (POSIX), else forkserver, else spawn (Windows)."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and not exr.decode_threads_started():
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def process_pool(workers: int, ignore_interrupts: bool = False) -> ProcessPoolExecutor:
    """A pool of `workers` processes; `ignore_interrupts`: Ctrl-C is the main process's alone."""
    cores = os.cpu_count() or 1
    initargs: tuple[int, bool] = (max(1, cores // workers), ignore_interrupts)
    context = multiprocessing.get_context(start_method())
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_worker,
                               initargs=initargs)

