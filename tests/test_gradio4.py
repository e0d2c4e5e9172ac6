"""The tab under gradio 4.40 (Forge's), in the Forge environment `tools/setup.sh forge` makes.

Building the tab must not import torch (EXR users pay nothing for MiDaS). A subprocess there builds
the Blocks, runs the EXR handlers with gradio 4's values (paths as str), feeds their results
through gradio 4's own postprocessing, and serves the app on 127.0.0.1; it prints a JSON report
that this test checks (from any environment: the main one has gradio 3.41).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GRADIO4_PYTHON = Path(os.environ.get("DEPTH_TOOLS_GRADIO4_PYTHON", REPO / ".venv-forge" / "bin" / "python"))

SCRIPT = r"""
import json, socket, sys, urllib.request
from pathlib import Path

import gradio as gr
from lib_depth.ui import build_ui
from lib_depth.ui.exr import MapControls
from lib_depth.ui import exr_events

sample = sys.argv[1]
report = {"gradio": gr.__version__}
ui = build_ui()
report["torch_imported"] = "torch" in sys.modules
report["components"] = {
    block.elem_id: type(block).__name__
    for block in ui.blocks.blocks.values()
    if isinstance(getattr(block, "elem_id", None), str) and block.elem_id.startswith("depth_tools")
}
report["image_formats"] = sorted({getattr(c, "format", None) for c in (ui.exr.depth_image, ui.exr.chart,
                                  ui.exr.normal_image, ui.midas.depth_image, ui.midas.normal_image)})

import asyncio

from lib_depth.ui.midas import MidasControls

report["model_choices"] = ui.midas.model.choices
# Another model chosen, through the event as wired and gradio 4's own handling of its answer (an
# update makes a new component from the old one's arguments, then sends its properties).
fns = ui.blocks.fns.values() if isinstance(ui.blocks.fns, dict) else ui.blocks.fns
[block_fn] = [f for f in fns if getattr(f.fn, "__name__", "") == "on_model"]
given = {ui.midas.model: "Depth Anything V2", **{ui.midas.controls[k]: v for k, v in vars(MidasControls()).items()}}
answer = block_fn.fn(given)
sent = asyncio.run(ui.blocks.postprocess_data(block_fn, answer, None))
shown = sent[block_fn.outputs.index(ui.midas.resolution)]
report["model_resolution"] = [shown.get(key) for key in ("value", "minimum", "maximum", "step")]
report["model_weights_line"] = answer[ui.midas.weights]
report["model_torch_imported"] = "torch" in sys.modules

controls = {**vars(MapControls()), "cutoff_state": None}
del controls["cutoff"]
tab = ui.exr
values = {"files": [sample], "channel": "auto", "file_choice": None, "view_choice": None, **controls}
out = exr_events.on_files(values)  # gradio 4 hands File values as str paths
report["cut_labels"] = [out[name].get("value") for name in exr_events.CUT_BUTTONS if out[name].get("visible")]
postprocessed = []
loaded_components = tab.named(*exr_events.LOADED)
assert set(loaded_components) == set(out)
for name, value in out.items():
    component = loaded_components[name]
    if isinstance(value, dict) or isinstance(component, gr.State):
        continue
    postprocessed.append((component.elem_id, type(component.postprocess(value)).__name__))
report["postprocessed"] = postprocessed
view = out["view"]
cut = exr_events.on_cut(0)({"view": view, **controls})
report["cutoff_after_click"] = cut["cutoff_state"]
normal = exr_events.on_controls({"view": view, **controls, "normal": True})["normal_image"]["value"]
report["normal_preview"] = [type(tab.normal_image.postprocess(normal)).__name__, list(normal.shape)]
made = exr_events.on_make({**values, "cutoff_state": 254.5, "mask": True, "normal": True})
downloads, result = made["downloads"], made["result"]
report["downloads"] = [Path(p).name for p in downloads]
report["downloads_postprocessed"] = type(tab.downloads.postprocess(downloads)).__name__
report["result_postprocessed"] = type(tab.result.postprocess(result)).__name__

sock = socket.socket()
sock.bind(("127.0.0.1", 0))
port = sock.getsockname()[1]
sock.close()
try:  # a failure here is reported, so that the checks above still run
    ui.blocks.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                             show_api=False)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=30) as response:
        config = json.load(response)
    report["served_ids"] = sorted(
        c["props"].get("elem_id") for c in config["components"] if str(c["props"].get("elem_id")).startswith("depth")
    )
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as response:
        report["page_status"] = response.status
except Exception as exc:
    report["serve_error"] = f"{type(exc).__name__}: {exc}"
    try:  # the usual root cause: gradio's page needs the API description
        ui.blocks.get_api_info()
    except Exception as cause:
        report["serve_error"] += f" (API description: {type(cause).__name__}: {cause})"
finally:
    ui.blocks.close()
print("REPORT " + json.dumps(report))
"""


@pytest.fixture(scope="module")
def gradio4_report(sample_exr: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    if not GRADIO4_PYTHON.exists():
        pytest.skip(f"{GRADIO4_PYTHON} is missing: run `bash tools/setup.sh forge`")
    tmp = tmp_path_factory.mktemp("gradio4")
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_TEMP_DIR": str(tmp / "gradio"),
        "TMPDIR": str(tmp),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    proc = subprocess.run(
        [str(GRADIO4_PYTHON), "-c", SCRIPT, str(sample_exr)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("REPORT ")]
    assert proc.returncode == 0 and lines, f"gradio 4 run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return json.loads(lines[-1][len("REPORT ") :])


def test_builds_under_gradio4_without_torch(gradio4_report: dict) -> None:
    assert gradio4_report["gradio"].startswith("4.40")
    assert gradio4_report["torch_imported"] is False
    components = gradio4_report["components"]
    expected = {
        "depth_tools_exr_files": "File",
        "depth_tools_exr_chart": "Image",
        "depth_tools_exr_cutoff": "Number",
        "depth_tools_exr_cut_0": "Button",
        "depth_tools_exr_depth": "Image",
        "depth_tools_exr_normal": "Checkbox",
        "depth_tools_exr_normal_preview": "Image",
        "depth_tools_exr_fov": "Number",
        "depth_tools_exr_depth_is": "Radio",
        "depth_tools_make": "Button",
        "depth_tools_exr_downloads": "File",
        "depth_tools_midas_image": "Image",
        "depth_tools_midas_model": "Dropdown",
        "depth_tools_midas_weights": "HTML",
        "depth_tools_midas_resolution": "Slider",
        "depth_tools_midas_bg_threshold": "Slider",
        "depth_tools_midas_a": "Slider",
        "depth_tools_midas_run": "Button",
        "depth_tools_midas_normal": "Image",
    }
    assert {k: components.get(k) for k in expected} == expected
    assert gradio4_report["image_formats"] == ["png"]  # not gradio 4's lossy WebP default


def test_the_model_choice_under_gradio4(gradio4_report: dict) -> None:
    """Both models listed, and another model's resolution applied through gradio 4's own update
    handling (no weights here: the line says so, and finding none imports no torch)."""
    assert gradio4_report["model_choices"] == [["MiDaS DPT-hybrid", "MiDaS DPT-hybrid"],
                                               ["Depth Anything V2", "Depth Anything V2"]]
    assert gradio4_report["model_resolution"] == [518, 70, 2044, 14]
    assert "Depth Anything V2" in gradio4_report["model_weights_line"]
    assert gradio4_report["model_torch_imported"] is False


def test_handlers_values_pass_gradio4_postprocessing(gradio4_report: dict) -> None:
    assert gradio4_report["cut_labels"] == ["Cut at 254.50", "Cut at 340.50"]
    kinds = dict(gradio4_report["postprocessed"])
    assert kinds["depth_tools_exr_chart"] == kinds["depth_tools_exr_depth"] == "FileData"
    assert kinds["depth_tools_exr_status"] == "str"
    assert gradio4_report["cutoff_after_click"] == pytest.approx(254.5)
    assert gradio4_report["normal_preview"] == ["FileData", [512, 768, 3]]
    assert gradio4_report["downloads"] == ["scene.depth.png", "scene.mask.png", "scene.normal.png"]
    assert gradio4_report["downloads_postprocessed"] == "ListFiles"
    assert gradio4_report["result_postprocessed"] == "FileData"


def test_serves_under_gradio4(gradio4_report: dict) -> None:
    # gradio 4.40 with pydantic >= 2.11 cannot build its API page for File/Image components
    # ("argument of type 'bool' is not iterable"): the gradio4 environment must pin pydantic < 2.11.
    assert "serve_error" not in gradio4_report, gradio4_report["serve_error"]
    assert gradio4_report["page_status"] == 200
    assert "depth_tools_exr_files" in gradio4_report["served_ids"]
    assert "depth_tools_midas_run" in gradio4_report["served_ids"]
