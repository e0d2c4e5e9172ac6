"""Send to ControlNet: the full-size map a sub-tab wrote, into a ControlNet unit of txt2img/img2img.

Shown only when the host says ControlNet is there (`TabHost.controlnet_units`). The click first
picks, on the server, the PNGs the tab wrote (a hidden gr.File makes gradio serve those very
files), then `javascript/depth_tools_controlnet.js` fetches them and drops those exact bytes on the
units' file inputs, as a user's upload would: no preview, no re-encoding on the way. "Depth +
normal" sends both maps of one render in one click: the depth map to the chosen unit, the normal
map to the next (the multi-ControlNet setup render users build by hand).
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
#: The choice that sends the depth map to the chosen unit and the normal map to the next one.
BOTH = "Depth + normal"
NOTHING_YET = "Nothing to send yet: make the maps first."
NO_NORMAL = "No normal map was made: tick \"Normal map\", then make the maps again."


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


def maps_to_send(downloads: Any, kind: str, unit: Any, units: int) -> tuple[list[str] | None, str]:
    """The PNGs to send for `kind` (one, or depth then normal for `BOTH`), and why none: "" when
    there is something to send (the browser then writes what it did)."""
    wanted = ("depth", "normal") if kind == BOTH else (KINDS.get(kind, kind),)
    if kind == BOTH and _unit_number(unit) + 1 >= units:
        return None, f"{BOTH} needs the next unit for the normal map: choose a unit below {units - 1}."
    found = [map_to_send(downloads, name) for name in wanted]
    if found[0] is None and not file_paths(downloads):
        return None, NOTHING_YET
    if None in found:
        return None, NO_NORMAL if "normal" in wanted else NOTHING_YET
    return [path for path in found if path is not None], ""


def _unit_number(unit: Any) -> int:
    try:
        return int(str(unit).strip())
    except ValueError:
        return 0


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
    # what the server picked, and why nothing when so: hidden, read by the browser step that follows
    picked = gr.File(file_count="multiple", visible=False, elem_id=f"{prefix}_cn_file")
    why = gr.Textbox(visible=False, elem_id=f"{prefix}_cn_why")
    button.click(lambda maps, chosen, number: maps_to_send(maps, chosen, number, units), [downloads, kind, unit],
                 [picked, why]).then(
        None, [tab, unit, kind, picked, why], note,
        **js_kwargs("(tab, unit, kind, files, why) => why || depthToolsSendToControlNet(tab, unit, kind, files)"),
    )
    return button
