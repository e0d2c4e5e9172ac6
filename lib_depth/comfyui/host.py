"""The only module that imports ComfyUI (`folder_paths`, `comfy.*`): its folders, progress bar and
Cancel, as `webui/host.py` is the only one that imports the WebUI. Imported only inside ComfyUI
(the pack's root `__init__.py`), so its imports run at module level."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
from collections.abc import Callable
from pathlib import Path

import comfy.model_management
import comfy.model_patcher
import comfy.utils
import folder_paths
import torch

from ..depth.exr import EXR_SUFFIX

#: Our folders in ComfyUI's `models/` (registered once, at import; extra_model_paths.yaml may add
#: more under these names): `models/depth_tools/` for the picture models, `models/video_depth_anything/`
#: for Video Depth Anything (its own folder: the files are large, and named as the official release).
MODELS_FOLDER = "depth_tools"
VIDEO_MODELS_FOLDER = "video_depth_anything"
for _folder in (MODELS_FOLDER, VIDEO_MODELS_FOLDER):
    folder_paths.add_model_folder_path(_folder, os.path.join(folder_paths.models_dir, _folder))


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


def models_dirs(folder: str = MODELS_FOLDER) -> list[str]:
    """`models/<folder>/` and any other folder a user registered for it (extra_model_paths.yaml)."""
    return list(folder_paths.get_folder_paths(folder))


def models_root() -> Path:
    """ComfyUI's `models/` (other packs' folders in it hold weights a user may already have)."""
    return Path(folder_paths.models_dir)


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


def torch_device() -> str:
    """The device ComfyUI runs models on (`--cpu` honoured)."""
    return str(comfy.model_management.get_torch_device())


def model_files(folder: str = MODELS_FOLDER) -> list[str]:
    """The files of one of our models folders, for a node's explicit weights choice."""
    return list(folder_paths.get_filename_list(folder))


def model_file(name: str, folder: str = MODELS_FOLDER) -> Path | None:
    found = folder_paths.get_full_path(folder, name)
    return Path(found) if found else None


class ReleasingPatcher(comfy.model_patcher.ModelPatcher):
    """Our network as ComfyUI's model manager sees it: when ComfyUI unloads it (*Unload models*,
    `POST /free`, memory pressure), `on_unload` lets our cache drop it too, so its memory is freed.

    ComfyUI watches the module it was given with a finalizer that edits its list of loaded models;
    were that module collected inside `detach`, the list would change under ComfyUI's own loop
    (`free_memory` then fails with IndexError and the prompt worker dies). So it is given a holder
    that outlives the unload, and only the network inside is let go."""

    def __init__(self, network: torch.nn.Module, on_unload: Callable[[], None]) -> None:
        holder = torch.nn.Module()
        holder.network = network
        device = comfy.model_management.get_torch_device()
        super().__init__(holder, load_device=device, offload_device=comfy.model_management.unet_offload_device())
        self.on_unload = on_unload

    def detach(self, unpatch_all: bool = True) -> torch.nn.Module:
        holder = super().detach(unpatch_all)
        # `unpatch_all=False` is no unload: `load_models_gpu` detaches a model it already holds that
        # way before loading it again (it is a "clone" of itself), and so does a patcher's `__del__`.
        if unpatch_all and "network" in self.model._modules:  # ComfyUI may detach more than once
            del self.model.network
            self.on_unload()
            return_freed_memory()
        return holder


def return_freed_memory() -> None:
    """Hand freed CPU memory back to the system: glibc keeps freed heap pages of a network's
    tensors in the process (its RSS would not fall after *Unload models*); a GPU's memory is
    returned by ComfyUI's own `soft_empty_cache`."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def keep_loaded(patcher: ReleasingPatcher) -> None:
    """Tell ComfyUI the model is in use now (it may unload others to make room)."""
    comfy.model_management.load_models_gpu([patcher])
