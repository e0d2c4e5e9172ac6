"""The post-processing controls both sub-tabs share (compress, invert, mask, noise + seed, bits).

Built once here so the two tabs look and behave alike; each tab wires them to its own handler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from . import hosting
from .exr import BITS_CHOICES


@dataclass
class PostControls:
    compress: Any
    invert: Any
    mask: Any
    noise: Any
    seed: Any
    bits: Any

    @property
    def boxes(self) -> list[Any]:
        """The controls whose user edits re-render the maps."""
        return [self.compress, self.invert, self.mask, self.noise, self.seed, self.bits]


def post_controls(prefix: str) -> PostControls:
    """Lay out the controls (inside an open column); elem_ids are `<prefix>_<name>`."""
    with gr.Row():
        compress = gr.Checkbox(label="Compress empty depth ranges", elem_id=f"{prefix}_compress")
        invert = gr.Checkbox(label="Invert (near = black)", elem_id=f"{prefix}_invert")
    with gr.Row():
        mask = gr.Checkbox(label="Mask PNG (white = subject)", elem_id=f"{prefix}_mask")
        noise = gr.Checkbox(label="Noise in the background", elem_id=f"{prefix}_noise")
    with gr.Row():
        bits = gr.Radio(
            label="PNG bit depth", choices=list(BITS_CHOICES), value=BITS_CHOICES[0], elem_id=f"{prefix}_bits"
        )
        seed = gr.Number(label="Noise seed", value=0, precision=0, visible=False, elem_id=f"{prefix}_seed")
    noise.change(lambda on: gr.update(visible=bool(on)), noise, seed)
    return PostControls(compress, invert, mask, noise, seed, bits)


def send_buttons(result: gr.Image, prefix: str) -> None:
    """The WebUI's "Send to img2img / inpaint / extras" for `result`, side by side; nothing standalone."""
    host = hosting.current()
    if not host.can_send_images():
        return
    with gr.Row(elem_id=f"{prefix}_send"):
        host.create_send_buttons(result, prefix)
