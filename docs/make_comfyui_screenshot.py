"""docs/screenshots/comfyui_workflow.png: the example workflow run in the real ComfyUI page.

    .venv/bin/python docs/make_comfyui_screenshot.py --comfyui-python .venv-comfyui/bin/python

A copy of the ComfyUI that tests/comfy use (DEPTH_TOOLS_COMFYUI or ../shared/hosts/ComfyUI) is
started on 127.0.0.1 with this pack; two frames of the sample scene go into its input folder, the
page (Debian's chromium through Playwright, from this interpreter) loads
example_workflows/exr_sequence_to_16bit_frames.json and queues it, and the page is photographed
once the saved frames are previewed. It builds no host: it runs the one it is given.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lib_depth.depth.exr import write_depth  # noqa: E402
from lib_depth.depth.sample import synthetic_scene  # noqa: E402
from tests.comfy.server import start, stop  # noqa: E402
from tests.fixtures_ui import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

WORKFLOW = REPO / "example_workflows" / "exr_sequence_to_16bit_frames.json"
OUT = REPO / "docs" / "screenshots" / "comfyui_workflow.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comfyui-python", default=sys.executable, help="the python ComfyUI runs under")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        comfy = start(Path(tmp), python=args.comfyui_python)
        try:
            frames = comfy.root / "input" / "depth_tools_example"
            frames.mkdir(parents=True)
            for number in (1, 2):
                write_depth(frames / f"shot_{number:04d}.exr", synthetic_scene(480, 320) + np.float32(number),
                            channel="Y")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 760})
                page.goto(comfy.url, wait_until="networkidle")
                page.wait_for_function("window.app && window.app.graph", timeout=60000)
                for _ in range(2):  # the first start's template browser, over the graph
                    page.keyboard.press("Escape")
                    time.sleep(0.5)
                page.evaluate("(w) => window.app.loadGraphData(w)", json.loads(WORKFLOW.read_text()))
                page.evaluate("() => window.app.queuePrompt(0)")
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and not json.loads(comfy.get("/history")):
                    time.sleep(1)
                time.sleep(3)  # the previews are drawn after the result message
                OUT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(OUT))
                browser.close()
        finally:
            stop(comfy)
    print(OUT, OUT.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
