"""Send to ControlNet: the full-size map a sub-tab wrote, into a ControlNet unit of txt2img/img2img.

Shown only when the host says ControlNet is there (`TabHost.controlnet_units`). The click first
picks, on the server, the PNG the tab wrote (a hidden gr.File makes gradio serve that very file),
then `javascript/depth_tools_controlnet.js` fetches it and drops those exact bytes on the unit's
file input, as a user's upload would: no preview, no re-encoding on the way.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import gradio as gr

from . import hosting
from .compat import file_paths, js_kwargs
from .exr import new_run_dir

TABS = ("txt2img", "img2img")
KINDS = {"Depth map": "depth", "Normal map": "normal"}


def map_to_send(downloads: Any, kind: str = "depth") -> str | None:
    """The path of the first `<stem>.<kind>.png` among the tab's downloads, taken out of the zip
    (byte for byte) when several uploads were packed into one; None when there is none yet."""
    suffix = f".{KINDS.get(kind, kind)}.png"
    paths = file_paths(downloads)
    for path in paths:
        if path.lower().endswith(suffix):
            return path
    for path in paths:
        if path.lower().endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                name = next((n for n in archive.namelist() if n.lower().endswith(suffix)), None)
                if name is not None:
                    target = new_run_dir() / Path(name).name
                    target.write_bytes(archive.read(name))
                    return str(target)
    return None


def send_controls(prefix: str, downloads: Any, kinds: tuple[str, ...] = ("Depth map",)) -> gr.Button | None:
    """Lay out "Send to ControlNet" (tab, unit, map kind when there is a choice) and wire it;
    nothing when the host has no ControlNet. Returns the button (for tests)."""
    units = hosting.current().controlnet_units()
    if units <= 0:
        return None
    with gr.Row(elem_id=f"{prefix}_controlnet_send", equal_height=True):
        tab = gr.Radio(list(TABS), value=TABS[0], label="ControlNet in", elem_id=f"{prefix}_cn_tab", min_width=160)
        unit = gr.Dropdown(
            [str(i) for i in range(units)], value="0", label="Unit", elem_id=f"{prefix}_cn_unit", min_width=80
        )
        kind = gr.Radio(list(kinds), value=kinds[0], label="Map", visible=len(kinds) > 1, elem_id=f"{prefix}_cn_kind")
        button = gr.Button("Send to ControlNet", elem_id=f"{prefix}_cn_send", min_width=160)
    note = gr.HTML("", elem_id=f"{prefix}_cn_note")
    picked = gr.File(visible=False, elem_id=f"{prefix}_cn_file")
    button.click(map_to_send, [downloads, kind], picked).then(
        None, [tab, unit, kind, picked], note,
        **js_kwargs("(tab, unit, kind, file) => depthToolsSendToControlNet(tab, unit, kind, file)"),
    )
    return button
