"""What the worker-pool test sends its workers: a function a forkserver child can import by name."""

from __future__ import annotations


def mean_depth(path: str) -> str:
    """The file's mean depth and the decode threads of the worker that read it."""
    from lib_depth.depth import exr

    depth = exr.read_depth(path).depth
    return f"{float(depth.mean())} {exr._decode_threads[0]}"
