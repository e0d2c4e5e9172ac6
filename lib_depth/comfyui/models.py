"""The depth models as ComfyUI holds them: weights found where ComfyUI users keep them, the network
loaded once per process (the registry's cache) and handed to ComfyUI's model manager, which
unloads it (*Unload models*, `POST /free`, memory pressure); the next call loads it again.

Weights, in order: the file chosen in the node (trusted, as `--weights`), else searched (and
verified, never unpickled) in `models/depth_tools/` (with any path extra_model_paths.yaml adds),
then comfyui_controlnet_aux's `ckpts/` layout inside any pack (ComfyUI-Inference-Core-Nodes has the
same under `PACK_ROOTS`), then the Hugging Face cache (with transformers' Intel/dpt-hybrid-midas).
Nothing is downloaded: the node says where to put the file.
"""

from __future__ import annotations

from pathlib import Path

from ..images import registry
from ..images.registry import Estimator
from ..midas.settings import MidasSettings
from . import host

AUTO = "auto"
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
            dirs += [str(pack / root / sub) for root in PACK_ROOTS for sub in CKPTS if (pack / root / sub).is_dir()]
    return tuple(dict.fromkeys(dirs))


def settings(weights: str) -> MidasSettings:
    """Where the weights are (the node's choice, or searched) and ComfyUI's device; fp32 on a CPU
    (the command line's choice there), the model's automatic precision on a GPU."""
    device = host.torch_device()
    chosen: Path | None = host.model_file(weights) if weights and weights != AUTO else None
    return MidasSettings(weights=None if chosen is None else str(chosen),
                         search_dirs=() if chosen is not None else search_dirs(),
                         models_dir=host.models_dirs()[0], device=device,
                         precision="fp32" if device == "cpu" else None)


def _unloaded() -> None:
    """ComfyUI unloaded the network: free it (the next call loads it again, with a new patcher)."""
    registry.release_all(free=True)


def estimator(model: str, weights: str) -> Estimator:
    """The loaded model, registered with ComfyUI's model manager (once per load)."""
    found = registry.get_estimator(model, settings(weights))
    patcher = _held.get("patcher")
    if patcher is None or getattr(patcher, "estimator", None) is not found:
        patcher = host.ReleasingPatcher(found.model, _unloaded)  # type: ignore[attr-defined]
        patcher.estimator = found  # type: ignore[attr-defined]
        _held["patcher"] = patcher
    host.keep_loaded(patcher)  # type: ignore[arg-type]
    return found
