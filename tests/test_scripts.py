"""scripts/depth_tools.py as the WebUI loads it, and the layering rules around it."""

from __future__ import annotations

import ast
import configparser
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from tests.host_double import WebUI

REPO = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_the_entry_script_is_a_few_lines_of_registration() -> None:
    script = REPO / "scripts" / "depth_tools.py"
    code = [ln for ln in script.read_text().splitlines() if ln.strip() and not ln.startswith(("#", '"""', " "))]
    assert len(code) <= 8
    assert _imports(script) == {"lib_depth.webui"}


def test_metadata_names_the_extension() -> None:
    parser = configparser.ConfigParser()
    parser.read(REPO / "metadata.ini")
    assert parser["Extension"]["Name"] == "depth-tools"


def test_tab_is_registered(make_webui: Callable[..., WebUI]) -> None:
    webui = make_webui("controlnet")
    [(blocks, title, elem_id)] = webui.ui_tabs()
    assert isinstance(blocks, gr.Blocks) and (title, elem_id) == ("Depth Tools", "depth_tools")
    assert webui.errors == []


A1111_LOAD = r"""
import json, sys
repo = sys.argv[1]
sys.path.insert(0, repo)
from tests.host_double import webui_double  # the stand-in WebUI; lib_depth is not imported yet
sys.path.remove(repo)
sys.modules.pop("tests", None)
assert "lib_depth" not in sys.modules
from pathlib import Path
with webui_double(Path(sys.argv[2]), "controlnet") as webui:
    before = list(sys.path)
    webui.start()  # the extension root is on sys.path only while scripts/depth_tools.py runs
    assert sys.path == before and repo not in sys.path, sys.path
    p = webui.preprocessor("depth_tools_midas")
    webui.shared.opts.data["depth_tools_allow_download"] = False
    import numpy as np
    try:  # lazy imports inside lib_depth (midas, midas_weights) must still work
        p(np.zeros((8, 8, 3), np.uint8), 64)
        message = "no error"
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
    tabs = webui.ui_tabs()
    print(json.dumps({"errors": webui.errors, "message": message, "tabs": [t[1] for t in tabs]}))
"""


def test_loads_the_way_a1111_loads_it(tmp_path: Path) -> None:
    """In a fresh interpreter, with the extension root on sys.path only while the script executes,
    the callbacks registered then (the tab, a preprocessor needing lazily imported modules) work."""
    env = {**os.environ, "PYTHONPATH": "", "HF_HUB_CACHE": str(tmp_path / "hf"), "DEPTH_TOOLS_CACHE": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", A1111_LOAD, str(REPO), str(tmp_path / "webui")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["errors"] == [] and result["tabs"] == ["Depth Tools"]
    # no usable weights and no download allowed: a clear message (where it looked, what to do)
    assert result["message"].startswith("PreprocessorError: "), result["message"]
    assert "MiDaS weights" in result["message"]
