"""Weights where ComfyUI users already have them: a MiDaS file in comfyui_controlnet_aux's
`ckpts/lllyasviel/Annotators/` layout (or ComfyUI-Inference-Core-Nodes', the same folders under its
`src/inference_core_nodes/controlnet_preprocessors/`) is found by the MiDaS node (weights "auto") and
verified before it is loaded — the random-weights file does not carry the published hash, so the node's
one-line error names that exact path and its wrong sha256; without the file the path is absent."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import numpy as np
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


def test_a_transformers_folder_gives_the_same_map_as_the_checkpoint(comfy: Comfy, midas_checkpoint: Path,
                                                                   tmp_path: Path) -> None:
    """The same random network in Hugging Face's layout (Intel/dpt-hybrid-midas: config.json +
    model.safetensors, written from the checkpoint by tests/midas_hf_support.py), chosen in the node's
    weights list, gives the map the lllyasviel-layout file gives, bit for bit."""
    import torch

    from tests.comfy.test_exr_nodes import saved
    from tests.comfy.test_model_nodes import WEIGHTS, place_weights
    from tests.midas_hf_support import write_hf_folder

    place_weights(comfy, midas_checkpoint)
    folder = comfy.root / "models" / "depth_tools" / f"dpt-hybrid-midas-{uuid.uuid4().hex[:6]}"
    write_hf_folder(folder, torch.load(midas_checkpoint, map_location="cpu", weights_only=True))
    name = upload(comfy, picture(tmp_path / f"hf-{uuid.uuid4().hex[:6]}.png", 96, 64))
    try:
        maps = []
        for weights in (WEIGHTS, f"{folder.name}/model.safetensors"):
            entry = comfy.run(midas_graph(name, weights=weights, resolution=128))
            assert error_of(entry) is None, error_of(entry)
            maps += saved(comfy, entry)
        other = folder.with_name(f"{folder.name}-other")  # the same tensors beside another model's config
        other.mkdir()
        (other / "model.safetensors").symlink_to(folder / "model.safetensors")
        (other / "config.json").write_text('{"model_type": "dpt", "is_hybrid": false}')
        message = error_of(comfy.run(midas_graph(name, weights=f"{other.name}/model.safetensors", resolution=128)))
        assert message is not None and str(other / "config.json") in message and "\n" not in message.strip(), message
    finally:
        shutil.rmtree(folder)
        shutil.rmtree(folder.with_name(f"{folder.name}-other"), ignore_errors=True)
    assert maps[0].shape == (64, 96) and maps[0].std() > 0
    assert np.array_equal(maps[0], maps[1])
