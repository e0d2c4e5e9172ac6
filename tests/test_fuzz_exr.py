"""Fuzz: a few hundred seeded mutations of real EXR files through `python -m lib_depth`, each
under a 2 GiB address-space limit and a timeout. Every case converts or is refused with the
one-line error (exit 1, nothing written); none crashes, hangs or prints a traceback.
`python tools/fuzz_exr.py --cases N` is the longer run."""

from __future__ import annotations

import collections
import importlib.util
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("fuzz_exr", REPO / "tools" / "fuzz_exr.py")
fuzz_exr = importlib.util.module_from_spec(_spec)
sys.modules["fuzz_exr"] = fuzz_exr  # its dataclasses look their module up there
_spec.loader.exec_module(fuzz_exr)

CASES, SEED = 300, 20240611


def test_fuzz_exr_no_case_crashes_hangs_or_writes_for_a_failed_file(tmp_path: Path) -> None:
    cases = fuzz_exr.fuzz(CASES, SEED, workers=2, folder=tmp_path)
    outcomes = collections.Counter(c.outcome for c in cases)
    bad = [f"{c.outcome}: {c.path.name} ({c.mutation}): {c.detail}" for c in cases
           if c.outcome not in ("converted", "refused")]
    assert not bad, "\n".join(bad)
    assert sum(outcomes.values()) == CASES
    assert {c.mutation for c in cases} == {m.__name__ for m in fuzz_exr.MUTATIONS}
    assert len({c.seed for c in cases}) == len(list((tmp_path / "seeds").iterdir())) >= 17
    reasons = " | ".join(c.detail for c in cases if c.outcome == "refused")
    assert "image too large: the header claims a data window of" in reasons  # the bound, before decoding
    assert "too many channels" in reasons
    assert outcomes["converted"] > 0  # harmless flips still convert: the reader is not refusing everything
    assert not list((tmp_path / "out").glob(".*"))  # no temporary file left by any case


def _proc(returncode: int, stderr: str) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess([], returncode, "", stderr)


def test_fuzz_exr_classifier_catches_crashes_tracebacks_and_outputs_of_failed_files(tmp_path: Path) -> None:
    """The harness itself: what would be a crash is never counted as a refusal."""
    case = fuzz_exr.Case(0, "seed", "flip", tmp_path / "c.exr")
    assert not fuzz_exr._classify([case], _proc(-11, ""), tmp_path) and case.outcome == "crashed"
    case.outcome = ""
    assert not fuzz_exr._classify([case], _proc(1, "Traceback (most recent call last):\n"), tmp_path)
    assert case.outcome == "crashed"
    (tmp_path / "c.depth.png").write_bytes(b"png")
    fuzz_exr._classify([case], _proc(1, f"error: {case.path}: damaged\n"), tmp_path)
    assert case.outcome == "crashed" and "written for a failed file" in case.detail
    (tmp_path / "c.depth.png").unlink()
    fuzz_exr._classify([case], _proc(1, f"error: {case.path}: damaged\n"), tmp_path)
    assert (case.outcome, case.detail) == ("refused", "damaged")
