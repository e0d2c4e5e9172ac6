"""The farm stages of a sequence, each one task: `python -m lib_depth farm STAGE ...`.

    farm scan    --frames F --chunk 1-16 --work W [options]   stage 1 summary of the chunk
    farm count   --frames F --chunk 1-16 --work W [options]   stage 2 on the merged scans (only with
                                                              --compress_map or a histogram cut;
                                                              otherwise it returns at once)
    farm merge   --work W [options]                           one summary of every chunk
    farm convert --frames F --chunk 1-16 --work W -o OUT [options]   the chunk's maps

[options] are the command line's own (`--depth_cutoff 340 --compress_map --bits 16`); every stage is
the command line run on the chunk's files (`cli.main`), so the maps are its bytes. A damaged frame does
not stop a scan (the other frames' summary is written, the frame is named); the convert task of its
chunk fails naming it, the other chunks convert, and a rerun once it is mended converts only what is
missing, as `--sequence` does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..cli import main as cli_main
from ..depth import levels
from ..depth.errors import DepthError
from ..depth.png import write_bytes_atomic
from .chunks import frames_in_chunk

__all__ = ["main", "needs_count"]

STAGES = ("scan", "count", "merge", "convert")


def needs_count(options: Sequence[str]) -> bool:
    """Whether the mapping needs stage 2 (the counts on the merged range): compression or a histogram cut."""
    return "--compress_map" in options or "--compress-map" in options or "histo" in options


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lib_depth farm", description=__doc__.split("\n\n")[0])
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("--frames", help="the EXR frames: a folder or a #### pattern")
    parser.add_argument("--chunk", help="the frame numbers of this task: 1-16, 1-9,12")
    parser.add_argument("--work", type=Path, required=True, help="the folder of the summaries, shared by all tasks")
    parser.add_argument("-o", "--output", type=Path, help="where the maps go (convert)")
    return parser


def _chunk_name(chunk: str) -> str:
    return chunk.replace(",", "_").replace(":", "by") + ".json"


def _scan(args: argparse.Namespace, options: list[str], stage: str) -> int:
    files = [str(p) for p in frames_in_chunk(args.frames, args.chunk)]
    out = args.work / stage / _chunk_name(args.chunk)
    out.parent.mkdir(parents=True, exist_ok=True)
    # stage 2 counts on the range of every chunk: their stage 1 summaries merge here (a few KiB each)
    merged = [a for p in _parts(args.work, "scan") for a in ("--levels", str(p))] if stage == "count" else []
    status = cli_main(["--sequence", *files, "--scan", str(out), *merged, *options])
    if status == 1 and out.is_file():  # some frames failed, named above: their convert task fails
        print(f"{args.chunk}: summary written without the frames that failed; their chunk's convert task fails")
        return 0
    return status


def _parts(work: Path, stage: str) -> list[Path]:
    parts = sorted((work / stage).glob("*.json"))
    if not parts:
        raise DepthError(f"no {stage} summary to merge: did the {stage} tasks run?", work / stage)
    return parts


def _merge(work: Path, stage: str, into: Path) -> int:
    parts = _parts(work, stage)
    summary = levels.merge_all([levels.load(p) for p in parts])
    write_bytes_atomic(into, summary.to_json().encode())
    print(f"merged {len(parts)} summaries of {summary.frames} frames into {into}")
    return 0


def _run(args: argparse.Namespace, options: list[str]) -> int:
    if args.stage != "merge" and (not args.frames or not args.chunk):
        raise DepthError(f"farm {args.stage} needs --frames and --chunk")
    if args.stage == "scan":
        return _scan(args, options, "scan")
    if args.stage == "count":
        return _scan(args, options, "count") if needs_count(options) else 0
    if args.stage == "merge":
        return _merge(args.work, "count" if needs_count(options) else "scan", args.work / "levels.json")
    if args.output is None:
        raise DepthError("farm convert needs -o OUTPUT")
    files = [str(p) for p in frames_in_chunk(args.frames, args.chunk)]
    return cli_main(["--sequence", *files, "--levels", str(args.work / "levels.json"), "-o", str(args.output),
                     *options])


def main(argv: Sequence[str] | None = None) -> int:
    """One farm task; 0 done, 1 a frame or file failed (one line on stderr), 2 a usage error."""
    args, options = _parser().parse_known_args(sys.argv[2:] if argv is None else argv)
    try:
        return _run(args, options)
    except DepthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
