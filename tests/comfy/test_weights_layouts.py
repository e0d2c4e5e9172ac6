"""Weights where ComfyUI users already have them: a MiDaS file in comfyui_controlnet_aux's
`ckpts/lllyasviel/Annotators/` layout (or ComfyUI-Inference-Core-Nodes', the same folders under its
`src/inference_core_nodes/controlnet_preprocessors/`) is found by the MiDaS node (weights "auto") and
verified before it is loaded — the random-weights file does not carry the published hash, so the node's
one-line error names that exact path and its wrong sha256; without the file the path is absent."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from tests.comfy.server import Comfy, error_of, upload
from tests.comfy.test_model_nodes import midas_graph, picture

PUBLISHED = "dpt_hybrid-midas-501f0c75.pt"


@pytest.mark.parametrize(("pack_name", "root"), [
    ("comfyui_controlnet_aux", ""),
    # its controlnet_preprocessors/utils.py: annotator_ckpts_path = <that folder>/ckpts
    ("ComfyUI-Inference-Core-Nodes", "src/inference_core_nodes/controlnet_preprocessors"),
])
def test_a_file_in_the_ckpts_layout_is_found_and_verified(comfy: Comfy, midas_checkpoint: Path, tmp_path: Path,
                                                          pack_name: str, root: str) -> None:
    pack = comfy.root / "custom_nodes" / f"{pack_name}_{uuid.uuid4().hex[:6]}"
    placed = pack / root / "ckpts" / "lllyasviel" / "Annotators" / PUBLISHED
    name = upload(comfy, picture(tmp_path / f"ckpts-{uuid.uuid4().hex[:6]}.png", 96, 64))
    before = error_of(comfy.run(midas_graph(name, weights="auto", resolution=320)))
    assert before is not None and str(placed) not in before, before
    placed.parent.mkdir(parents=True)
    shutil.copyfile(midas_checkpoint, placed)
    try:
        message = error_of(comfy.run(midas_graph(name, weights="auto", resolution=320)))
    finally:
        shutil.rmtree(pack)
    assert message is not None and "\n" not in message.strip(), message
    assert str(placed) in message and "not 501f0c75" in message, message
