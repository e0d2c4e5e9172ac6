"""The only module that imports ComfyUI (`folder_paths`, `comfy.*`): its folders, progress bar and
Cancel, as `webui/host.py` is the only one that imports the WebUI. Imported only inside ComfyUI
(the pack's root `__init__.py`), so its imports run at module level."""

from __future__ import annotations

import os
from pathlib import Path

import comfy.model_management
import comfy.utils
import folder_paths

from ..depth.exr import EXR_SUFFIX

#: Our folder in ComfyUI's `models/` (registered once, at import): `models/depth_tools/`.
MODELS_FOLDER = "depth_tools"
folder_paths.add_model_folder_path(MODELS_FOLDER, os.path.join(folder_paths.models_dir, MODELS_FOLDER))


def input_exr_files() -> list[str]:
    """The EXR files of ComfyUI's input folder (what the Load EXR node lists, as LoadImage does)."""
    folder = Path(folder_paths.get_input_directory())
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() == EXR_SUFFIX)


def input_file(name: str) -> Path:
    """A name from the input folder (or `name [output]` / `[temp]`, as ComfyUI annotates them)."""
    return Path(folder_paths.get_annotated_filepath(name))


def save_target(prefix: str, width: int, height: int) -> tuple[Path, str, int, str]:
    """(folder, file name stem, first free counter, subfolder) in ComfyUI's output folder."""
    folder, stem, counter, subfolder, _ = folder_paths.get_save_image_path(
        prefix, folder_paths.get_output_directory(), width, height)
    return Path(folder), stem, counter, subfolder


def models_dirs() -> list[str]:
    """`models/depth_tools/` and any other folder a user registered for it (extra_model_paths.yaml)."""
    return list(folder_paths.get_folder_paths(MODELS_FOLDER))


def custom_nodes_dirs() -> list[Path]:
    """ComfyUI's custom_nodes folders: other packs keep their weights there (comfyui_controlnet_aux's ckpts/)."""
    return [Path(p) for p in folder_paths.get_folder_paths("custom_nodes")]


class Progress:
    """ComfyUI's progress bar for `total` steps; each step first honours Cancel (`POST /interrupt`):
    the node stops between frames, before anything of the next frame is written."""

    def __init__(self, total: int) -> None:
        self.bar = comfy.utils.ProgressBar(max(total, 1))

    def check(self) -> None:
        comfy.model_management.throw_exception_if_processing_interrupted()

    def step(self) -> None:
        self.bar.update(1)
        self.check()


InterruptProcessingException = comfy.model_management.InterruptProcessingException
