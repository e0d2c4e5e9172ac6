"""The command line's entry: parse, build the typed options once, then run files or a sequence.

Exit status: 0 when every file succeeded, 1 when some failed (one line each on stderr, the rest
still written), 2 for usage errors, 130 after Ctrl-C. A user's mistake never prints a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..depth.errors import DepthError
from . import arguments, files, sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = arguments.build_parser()
    args = parser.parse_args(argv)
    in_sequence = sequence.wants_sequence(args)
    if args.force and not in_sequence:
        parser.error("--force is for --sequence (a plain run always converts every file)")
    if args.camera_rotation is not None and not args.normal:
        parser.error("--camera-rotation is for --normal (it says how to read the render's own Normal pass)")
    try:
        options = arguments.depth_options(args)
        if in_sequence:
            plan = sequence.plan(args, options)
        else:
            jobs = files.make_jobs(args, options)
    except DepthError as exc:
        parser.error(str(exc))
    if in_sequence:
        return sequence.main_sequence(args, plan)
    return files.convert_files(args, jobs)
