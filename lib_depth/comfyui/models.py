"""The depth models as ComfyUI holds them: weights found where ComfyUI users keep them, the network
loaded once per process (the registry's cache) and handed to ComfyUI's model manager, which
unloads it (*Unload models*, `POST /free`, memory pressure); the next call loads it again.

Weights, in order: the file chosen in the node (trusted, as `--weights`), else searched (and
verified, never unpickled) in `models/depth_tools/` (with any path extra_model_paths.yaml adds),
then comfyui_controlnet_aux's `ckpts/` layout inside any pack (ComfyUI-Inference-Core-Nodes has the
same under `PACK_ROOTS`), then the Hugging Face cache (with transformers' Intel/dpt-hybrid-midas).
With `auto` and no file found, the WebUI's download rule: the permissively licensed file is
downloaded into `models/depth_tools/` (MiDaS; Depth Anything V2 Small; Video Depth Anything Small into
`models/video_depth_anything/`), verified by its published sha256 before it appears; the
non-commercial sizes (Base, Large) never are. `HF_ENDPOINT` names a mirror, as for huggingface_hub.

Video Depth Anything (official file names, `video_depth_anything_vits.pth` ...): the file chosen in
its node (from `models/video_depth_anything/`), else searched in `models/video_depth_anything/`,
ComfyUI-Video-Depth-Anything's `models/videodepthanything/` and `models/depth_tools/`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..images import registry
from ..images.registry import Estimator
from ..midas.settings import MidasSettings
from ..video import VideoEstimator
from . import host

AUTO = "auto"
VIDEO_MODEL = "video-depth-anything"
#: ComfyUI-Video-Depth-Anything's folder in `models/` (where its users already have the files).
VIDEO_PACK_FOLDER = "videodepthanything"
#: comfyui_controlnet_aux's ckpts/ folders (its MiDaS and Depth Anything V2 files), per pack.
CKPTS = ("ckpts/lllyasviel/Annotators", "ckpts/depth-anything/Depth-Anything-V2-Large",
         "ckpts/depth-anything/Depth-Anything-V2-Base", "ckpts/depth-anything/Depth-Anything-V2-Small")

#: where a pack keeps them: at its top (comfyui_controlnet_aux), or where ComfyUI-Inference-Core-Nodes
#: does (its controlnet_preprocessors/utils.py: `annotator_ckpts_path = here / "ckpts"`, `here` that folder)
PACK_ROOTS = ("", "src/inference_core_nodes/controlnet_preprocessors")

_held: dict[str, object] = {}  # "patcher": the ReleasingPatcher of the estimator in use


def search_dirs() -> tuple[str, ...]:
    dirs = [*host.models_dirs()]
    for root in host.custom_nodes_dirs():
        for pack in sorted(root.iterdir()) if root.is_dir() else ():
            dirs += [str(pack / base / sub) for base in PACK_ROOTS for sub in CKPTS if (pack / base / sub).is_dir()]
    return tuple(dict.fromkeys(dirs))


def settings(weights: str) -> MidasSettings:
    """Where the weights are (the node's choice, or searched) and ComfyUI's device; fp32 on a CPU
    (the command line's choice there), the model's automatic precision on a GPU."""
    device = host.torch_device()
    chosen: Path | None = host.model_file(weights) if weights and weights != AUTO else None
    return MidasSettings(weights=None if chosen is None else str(chosen),
                         search_dirs=() if chosen is not None else search_dirs(),
                         models_dir=host.models_dirs()[0], device=device, allow_download=chosen is None,
                         precision="fp32" if device == "cpu" else None)


def video_settings(weights: str) -> MidasSettings:
    """Video Depth Anything's weights (the node's choice, or searched) and ComfyUI's device; the
    missing-weights message names `models/video_depth_anything/` first (`models_dir`)."""
    chosen = host.model_file(weights, host.VIDEO_MODELS_FOLDER) if weights and weights != AUTO else None
    folders = [*host.models_dirs(host.VIDEO_MODELS_FOLDER), str(host.models_root() / VIDEO_PACK_FOLDER),
               *host.models_dirs()]
    return MidasSettings(weights=None if chosen is None else str(chosen),
                         search_dirs=() if chosen is not None else tuple(dict.fromkeys(folders[1:])),
                         models_dir=folders[0], device=host.torch_device(), allow_download=chosen is None)


def _unloaded() -> None:
    """ComfyUI unloaded the network: free it (the next call loads it again, with a new patcher)."""
    registry.release_all(free=True)


def estimator(model: str, weights: str) -> Estimator:
    """The loaded picture model, registered with ComfyUI's model manager (once per load)."""
    found = registry.get_estimator(model, settings(weights))
    _hold(found, found.model)  # type: ignore[attr-defined]
    return found


def video_estimator(weights: str) -> VideoEstimator:
    """The loaded Video Depth Anything, registered with ComfyUI's model manager (once per load)."""
    found: VideoEstimator = registry.get_estimator(VIDEO_MODEL, video_settings(weights))  # type: ignore[assignment]
    _hold(found, found.network)
    return found


def _hold(found: object, network: torch.nn.Module) -> None:
    """ComfyUI's patcher for `found`'s network: a new one when another estimator was loaded."""
    patcher = _held.get("patcher")
    if patcher is None or getattr(patcher, "estimator", None) is not found:
        patcher = host.ReleasingPatcher(network, _unloaded)
        patcher.estimator = found  # type: ignore[attr-defined]
        _held["patcher"] = patcher
    host.keep_loaded(patcher)  # type: ignore[arg-type]
