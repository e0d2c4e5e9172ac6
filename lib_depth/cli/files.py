"""`python -m lib_depth FILE...`: each file converted on its own, in parallel with `--jobs`.

Every file becomes a `Job` naming its input kind (by suffix); a file that fails is one line on
stderr and the others are still converted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..depth.errors import internal_error
from ..depth.pipeline import Job, JobResult, run_job
from ..depth.process import DepthOptions
from ..depth.workers import process_pool
from . import arguments
from .report import Progress, print_result


def make_jobs(args: argparse.Namespace, options: DepthOptions) -> list[Job]:
    """One job per file; the input kinds are built once (a bad model setting fails here, once)."""
    exr, image = arguments.exr_input(args), arguments.image_input(args)
    want_histogram = arguments.wants_histogram(args) or args.json
    return [
        Job(source=path, input=arguments.input_for(path, exr, image), options=options, mask=args.mask,
            want_histogram=want_histogram, output_dir=args.output_dir, max_pixels=args.max_pixels)
        for path in args.files
    ]


def run_jobs(jobs: Sequence[Job], workers: int) -> Iterator[JobResult]:
    """Results in input order; with several workers, files are converted in parallel processes."""
    if workers <= 1 or len(jobs) <= 1:
        yield from map(run_job, jobs)
        return
    with process_pool(min(workers, len(jobs))) as pool:
        yield from pool.map(run_job, jobs)


def convert_files(args: argparse.Namespace, jobs: list[Job]) -> int:
    """Run the jobs, print each result as it comes, then the JSON (`--json`) and the exit status."""
    progress = Progress(len(jobs), sys.stderr, enabled=len(jobs) > 1 and sys.stderr.isatty() and not args.quiet)
    heading = (lambda r: r.source) if len(args.files) > 1 else (lambda r: None)
    results: list[JobResult] = []
    try:
        for result in run_jobs(jobs, args.jobs):
            results.append(result)
            progress.advance(Path(result.source).name)
            print_result(result, sys.stdout, sys.stderr, notes=not args.quiet, lines=not (args.json or args.quiet),
                         histogram_heading=heading(result), show_histogram=arguments.wants_histogram(args))
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        return 130
    except Exception as exc:  # a bug outside the per-file guard (a worker process died, ...): still one line
        sys.stderr.write(f"error: {internal_error(exc)}\n")
        return 1
    if args.json:
        json.dump({"files": [r.as_json() for r in results]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    failed = sum(not r.ok for r in results)
    if failed and len(results) > 1:
        sys.stderr.write(f"{failed} of {len(results)} files failed\n")
    return 1 if failed else 0
