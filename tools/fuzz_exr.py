"""Hostile EXR files: seeded mutations of real files, each run through `python -m lib_depth`.

Seeds are real EXR files written with OpenEXR (scanline and tiled; no/ZIP/PIZ compression; half
and float; several layers; multipart, multi-view, deep, mip-mapped). Each case mutates one seed:
byte flips anywhere, in the header or in the offset table; truncations; absurd data and display
windows; huge channel counts; attribute sizes that lie. Cases run in batches (one CLI process per
batch, under RLIMIT_AS and a timeout); a batch that crashes or hangs is rerun file by file, so
the outcome of every case is known. Outcomes: converted, refused (the one-line error, nothing
written), crashed (a signal, an exit status other than 0/1, a traceback, stray output, or an
output written for a failed file), hung.

    python tools/fuzz_exr.py --cases 3000 --seed 7      # the long run; tests/ runs a few hundred
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import os
import random
import re
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import OpenEXR

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.exr_files import (  # noqa: E402
    attributes,
    deep_samples,
    header_end,
    write_deep,
    write_image,
    write_multipart,
    write_multiview,
    write_tiled_levels,
)

MEMORY_LIMIT = 2 << 30
BATCH = 20
BATCH_TIMEOUT = 120
ALONE_TIMEOUT = 30
OUTCOMES = ("converted", "refused", "crashed", "hung")


def write_seeds(folder: Path) -> list[Path]:
    """Small real files of every kind the fuzzer mutates."""
    rng = np.random.default_rng(0)
    depth = rng.uniform(1, 300, (16, 24)).astype(np.float32)
    seeds = []
    for tiled in (False, True):
        for name, compression in (("none", OpenEXR.NO_COMPRESSION), ("zip", OpenEXR.ZIP_COMPRESSION),
                                  ("piz", OpenEXR.PIZ_COMPRESSION)):
            for half in (False, True):
                kind = f"{'tiled' if tiled else 'scan'}_{name}_{'half' if half else 'float'}"
                layers = {"Z": depth, "ViewLayer.Combined.R": depth / 300, "ViewLayer.Combined.A": depth * 0 + 1}
                seeds.append(write_image(folder / f"{kind}.exr", layers, tiled=tiled, compression=compression,
                                         half=half))
    seeds.append(write_multipart(folder / "multipart.exr", [("beauty", {"R": depth}, {}),
                                                            ("depth", {"Z": depth}, {})]))
    seeds.append(write_multiview(folder / "multiview.exr", depth, depth + 1))
    seeds.append(write_deep(folder / "deep.exr", {"Z": deep_samples(depth, rng)}))
    seeds.append(write_deep(folder / "deeptile.exr", {"Z": deep_samples(depth, rng)}, tiled=True))
    seeds.append(write_tiled_levels(folder / "mipmap.exr", depth, OpenEXR.MIPMAP_LEVELS))
    return seeds


def _flip(data: bytearray, rnd: random.Random, start: int, end: int) -> None:
    end = max(start + 1, min(end, len(data)))
    for _ in range(rnd.randint(1, 8)):
        at = rnd.randrange(start, end)
        data[at] ^= 1 << rnd.randrange(8) if rnd.random() < 0.7 else rnd.randrange(1, 256)


def flip_anywhere(data: bytearray, rnd: random.Random) -> None:
    _flip(data, rnd, 0, len(data))


def flip_header(data: bytearray, rnd: random.Random) -> None:
    _flip(data, rnd, 8, header_end(data))


def flip_offsets(data: bytearray, rnd: random.Random) -> None:
    start = header_end(data)
    _flip(data, rnd, start, start + 8 * 8)


def truncate(data: bytearray, rnd: random.Random) -> None:
    del data[rnd.randrange(len(data)) :]


_ABSURD = (0, -1, 1, 2**31 - 1, -(2**31), 2**16, 2**20, -(2**20), 65535, 16383, 16384)


def _window(name: str) -> Callable[[bytearray, random.Random], None]:
    def mutate(data: bytearray, rnd: random.Random) -> None:
        for attr, _size_at, value_at in attributes(bytes(data)):
            if attr == name:
                values = [rnd.choice(_ABSURD) if rnd.random() < 0.6 else rnd.randint(-100, 100) for _ in range(4)]
                data[value_at : value_at + 16] = struct.pack("<4i", *values)
    mutate.__name__ = f"absurd_{name}"
    return mutate


def huge_channels(data: bytearray, rnd: random.Random) -> None:
    """A channel list of thousands to a million channels, its size field kept honest."""
    count = rnd.choice((300, 5000, 100_000, 300_000))
    chlist = b"".join(f"c{i}".encode() + b"\0" + struct.pack("<iB3xii", 2, 0, 1, 1) for i in range(count)) + b"\0"
    for attr, size_at, value_at in attributes(bytes(data)):
        if attr == "channels":
            (size,) = struct.unpack_from("<i", data, size_at)
            data[size_at : value_at + size] = struct.pack("<i", len(chlist)) + chlist
            return


def lying_size(data: bytearray, rnd: random.Random) -> None:
    found = list(attributes(bytes(data)))
    _attr, size_at, _value_at = rnd.choice(found)
    (size,) = struct.unpack_from("<i", data, size_at)
    lie = rnd.choice((-1, -(2**31), 2**31 - 1, size + 1, size - 1, 0, size * 1000, rnd.randint(0, 1 << 24)))
    struct.pack_into("<i", data, size_at, lie)


MUTATIONS = (flip_anywhere, flip_header, flip_offsets, truncate, _window("dataWindow"), _window("displayWindow"),
             huge_channels, lying_size)


@dataclass
class Case:
    index: int
    seed: str
    mutation: str
    path: Path
    outcome: str = ""
    detail: str = ""
    digest: str = ""


def make_cases(seeds: list[Path], folder: Path, count: int, seed: int) -> list[Case]:
    rnd = random.Random(seed)
    originals = {p: p.read_bytes() for p in seeds}
    cases = []
    for index in range(count):
        mutation, source = MUTATIONS[index % len(MUTATIONS)], seeds[(index // len(MUTATIONS)) % len(seeds)]
        data = bytearray(originals[source])
        mutation(data, rnd)
        path = folder / f"case{index:05d}_{source.stem}.exr"
        path.write_bytes(bytes(data))
        cases.append(Case(index, source.stem, mutation.__name__, path, digest=hashlib.sha256(data).hexdigest()))
    return cases


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _run(paths: list[Path], out: Path, timeout: float) -> subprocess.CompletedProcess[str] | None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1"}
    try:
        return subprocess.run([sys.executable, "-m", "lib_depth", *map(str, paths), "-o", str(out), "-q"],
                              env=env, capture_output=True, text=True, timeout=timeout, preexec_fn=_limit_memory)
    except subprocess.TimeoutExpired:
        return None


def _classify(cases: list[Case], proc: subprocess.CompletedProcess[str], out: Path) -> bool:
    """Set each case's outcome from one process's result; False when the process as a whole failed
    (its cases must be rerun alone to know which one did it)."""
    stray = [line for line in proc.stderr.splitlines()
             if not line.startswith("error: ") and not line.endswith(" files failed")]
    if proc.returncode not in (0, 1) or stray or "Traceback" in proc.stderr:
        if len(cases) == 1:
            cases[0].outcome = "crashed"
            cases[0].detail = f"exit {proc.returncode}: {(stray or proc.stderr.splitlines() or [''])[0][:200]}"
        return False
    errors = {line.split(": ", 2)[1]: line for line in proc.stderr.splitlines() if line.startswith("error: ")}
    for case in cases:
        written = (out / f"{case.path.stem}.depth.png").exists()
        error = errors.get(str(case.path))
        if error is not None and written:
            case.outcome, case.detail = "crashed", f"an output was written for a failed file: {error}"
        elif error is not None:
            case.outcome, case.detail = "refused", error.split(": ", 2)[2]
        elif written:
            case.outcome = "converted"
        else:
            case.outcome, case.detail = "crashed", "no output and no error"
    return True


def run_batch(cases: list[Case], out: Path) -> None:
    proc = _run([c.path for c in cases], out, BATCH_TIMEOUT)
    if proc is not None and _classify(cases, proc, out):
        return
    for case in cases:  # find which file did it
        for stale in out.glob(f"{case.path.stem}.*"):
            stale.unlink()
        alone = _run([case.path], out, ALONE_TIMEOUT)
        if alone is None:
            case.outcome, case.detail = "hung", f"no result after {ALONE_TIMEOUT} s"
        else:
            _classify([case], alone, out)


def fuzz(count: int, seed: int, workers: int = 2, folder: Path | None = None) -> list[Case]:
    own = folder is None
    folder = folder or Path(tempfile.mkdtemp(prefix="fuzz_exr_"))
    try:
        (folder / "seeds").mkdir(parents=True, exist_ok=True)
        (folder / "cases").mkdir(exist_ok=True)
        (folder / "out").mkdir(exist_ok=True)
        cases = make_cases(write_seeds(folder / "seeds"), folder / "cases", count, seed)
        batches = [cases[i : i + BATCH] for i in range(0, len(cases), BATCH)]
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda batch: run_batch(batch, folder / "out"), batches))
        for case in cases:
            if hashlib.sha256(case.path.read_bytes()).hexdigest() != case.digest:
                case.outcome, case.detail = "crashed", "the input file was modified"
        return cases
    finally:
        if own:
            shutil.rmtree(folder, ignore_errors=True)


def table(cases: list[Case]) -> str:
    """Outcomes per mutation, as a Markdown table."""
    counts = collections.Counter((c.mutation, c.outcome) for c in cases)
    mutations = list(dict.fromkeys(c.mutation for c in cases))
    rows = ["| mutation | cases | " + " | ".join(OUTCOMES) + " |", "|---|---:|" + "---:|" * len(OUTCOMES)]
    for m in [*mutations, "all"]:
        picked = [c for c in cases if m in (c.mutation, "all")]
        rows.append(f"| {m} | {len(picked)} | " + " | ".join(
            str(sum(counts[(m, o)] for m in ([m] if m != "all" else mutations))) for o in OUTCOMES) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--keep", type=Path, help="keep the cases and outputs in this folder")
    parser.add_argument("--messages", action="store_true", help="also count the refusal messages")
    args = parser.parse_args(argv)
    cases = fuzz(args.cases, args.seed, args.jobs, args.keep)
    print(table(cases))
    if args.messages:
        reasons = collections.Counter(re.sub(r"[-\d,]+", "N", c.detail.split(" (")[0])[:90]
                                      for c in cases if c.outcome == "refused")
        for reason, n in reasons.most_common():
            print(f"{n:6d}  {reason}")
    bad = [c for c in cases if c.outcome in ("crashed", "hung")]
    for case in bad:
        print(f"{case.outcome}: case {case.index} ({case.seed}, {case.mutation}): {case.detail}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
