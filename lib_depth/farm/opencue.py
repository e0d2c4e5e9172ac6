"""The sequence's farm stages as an OpenCue outline (ASWF's pyoutline): one layer per stage.

    from lib_depth.farm import build_outline
    import outline.cuerun
    job = build_outline(frames="/shots/s010/render_####.exr", frame_range="1-10000",
                        output="/shots/s010/depth", chunk_size=16, options=["--compress_map"])
    outline.cuerun.launch(job, use_pycuerun=False)   # needs a Cuebot

Layers `scan`, `count`, `convert` run chunks of `chunk_size` frames (OpenCue's `#FRAME_START#` and
`#FRAME_END#` name each chunk's frames in the command), `merge` is one frame; each depends on all of
the layer before (`depend_all`: every frame of it). pyoutline is imported only here, when an outline
is built: converting on one machine needs nothing of OpenCue.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["build_outline", "farm_command"]

#: OpenCue's tokens for the first and last frame of a chunk, replaced on the render node
CHUNK = "#FRAME_START#-#FRAME_END#"


def farm_command(stage: str, *, python: str, frames: str, work: str, output: str, options: Sequence[str],
                 chunk: str | None = CHUNK) -> list[str]:
    """`python -m lib_depth farm STAGE ...` for one task, as a list of arguments (no shell quoting)."""
    command = [python, "-m", "lib_depth", "farm", stage, "--work", work]
    if stage != "merge":
        command += ["--frames", frames, "--chunk", str(chunk)]
    if stage == "convert":
        command += ["-o", output]
    return [*command, *options]


def build_outline(*, frames: str, frame_range: str, output: str, chunk_size: int = 16,
                  options: Sequence[str] = (), python: str = "python", name: str = "depth-tools",
                  show: str | None = None, shot: str | None = None, user: str | None = None) -> Any:
    """An `outline.Outline` with layers scan -> count -> merge -> convert over `frame_range`."""
    import outline
    from outline.modules.shell import Shell

    job = outline.Outline(name, frame_range=frame_range, show=show, shot=shot, user=user)
    work = f"{output.rstrip('/')}/.depth-tools-farm"
    first = frame_range.split(",")[0].split("-")[0].split("x")[0] or frame_range
    previous = None
    for stage in ("scan", "count", "merge", "convert"):
        one = stage == "merge"
        layer = Shell(stage, command=farm_command(stage, python=python, frames=frames, work=work, output=output,
                                                  options=options),
                      range=first if one else frame_range, chunk=1 if one else chunk_size)
        if previous is not None:
            layer.depend_all(previous)
        job.add_layer(layer)
        previous = layer
    return job
