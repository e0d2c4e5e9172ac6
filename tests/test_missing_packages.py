"""A missing package never removes the tab (a WebUI started with --skip-install, a failed pip):
what needs it says so with the command that installs it, and everything else keeps working."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.python_without import WITHOUT_PACKAGE

REPO = Path(__file__).resolve().parents[1]

WITHOUT = WITHOUT_PACKAGE + r"""
import json
import numpy as np
report = {}
from lib_depth.ui import build_ui
ui = build_ui()
notes = [b.value for b in ui.blocks.blocks.values() if getattr(b, "elem_id", None) == "depth_tools_missing"]
report["notice"] = notes[0] if notes else ""
from lib_depth.ui import exr_events
from lib_depth.ui.exr import MapControls
controls = {**vars(MapControls()), "cutoff_state": None}
out = exr_events.on_files({"files": [sys.argv[2]], **controls})
report["exr_status"] = [o for o in out.values() if isinstance(o, str) and "Problem" in o][:1]
from lib_depth.ui.midas import render, Estimate, MidasControls
maps = render(Estimate(np.linspace(0, 1, 64 * 48, dtype=np.float32).reshape(48, 64), 64), MidasControls())
report["midas_maps"] = list(maps.levels.shape)
print(json.dumps(report))
"""


def run(package: str, sample: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "GRADIO_ANALYTICS_ENABLED": "False"}
    done = subprocess.run([sys.executable, "-c", WITHOUT, package, str(sample)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_without_openexr_the_tab_says_what_to_install(sample_exr: Path) -> None:
    report = run("OpenEXR", sample_exr)
    command = '-m pip install &quot;OpenEXR&gt;=3.3,&lt;4&quot;'
    assert "The EXR render tab needs the Python package OpenEXR, which is not installed" in report["notice"]
    assert command in report["notice"]
    assert "needs the Python package OpenEXR" in report["exr_status"][0]  # using it says the same
    assert report["midas_maps"] == [48, 64]  # the MiDaS side still works


def test_without_controlnet_aux_the_exr_tab_works(sample_exr: Path) -> None:
    report = run("controlnet_aux", sample_exr)
    assert "needs the Python package controlnet_aux" in report["notice"]
    assert report["exr_status"] == []  # the render loaded: no problem reported


def test_the_command_line_names_the_missing_package(sample_exr: Path, tmp_path: Path) -> None:
    code = WITHOUT_PACKAGE + "from lib_depth.cli import main\nsys.exit(main(sys.argv[2:]))\n"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code, "OpenEXR", str(sample_exr), "-o", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        f"error: {sample_exr}: reading EXR files needs the Python package OpenEXR, which is not installed; "
        f'install it with: "{sys.executable}" -m pip install "OpenEXR>=3.3,<4"'
    )
    assert list(tmp_path.iterdir()) == []


def test_jobs_workers_start_without_openexr(sample_exr: Path, tmp_path: Path) -> None:
    """A worker chooses its share of the decode threads without importing OpenEXR: where it is
    missing, each file still gets its own one-line message (not a broken process pool)."""
    code = WITHOUT_PACKAGE + "from lib_depth.cli import main\nsys.exit(main(sys.argv[2:]))\n"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    second = tmp_path / "second.exr"
    second.write_bytes(sample_exr.read_bytes())
    done = subprocess.run([sys.executable, "-c", code, "OpenEXR", str(sample_exr), str(second), "--jobs", "2",
                           "-o", str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    *lines, summary = done.stderr.strip().splitlines()
    assert summary == "2 of 2 files failed"
    assert len(lines) == 2 and all("needs the Python package OpenEXR" in line for line in lines)
    assert {line.split(":")[1].strip() for line in lines} == {str(sample_exr), str(second)}
