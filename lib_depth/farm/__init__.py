"""Render farms: a sequence's three passes as farm tasks (`python -m lib_depth farm ...`).

The command line already splits a sequence into chunks whose levels summaries merge (`--scan`,
`--levels`); this package gives each pass the shape a farm task has: a chunk of frame numbers as the
farm hands it over (`1-16`), a work folder for the summaries shared by every worker, and one exit
status. It imports the command line, never the other way; nothing of a farm is needed to convert on
one machine, and OpenCue's pyoutline is imported only when an outline is built. Modules by job:

- `chunks`: a farm's frame range (`1-16`, `17,18,20-24`) -> the files of those frames.
- `tasks`: the stages `scan`, `count`, `merge`, `convert` (what the OpenJD bundle in `farm/openjd/`
  runs) and `main(argv)`.
- `opencue`: `build_outline(...)`, the same stages as an OpenCue outline (layers, dependencies, chunks).

Public: `main`, `frames_in_chunk`, `build_outline`.
"""

from .chunks import frames_in_chunk
from .opencue import build_outline
from .tasks import main

__all__ = ["build_outline", "frames_in_chunk", "main"]
