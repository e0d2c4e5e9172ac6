# ruff: noqa: B008 - FastAPI declares request bodies with Body() defaults, as ControlNet does
"""`/controlnet/module_list` and `/controlnet/detect` of Mikubill's ControlNet >= 1.1.444, as in
its scripts/api.py: unknown module -> 422; thresholds out of a slider's range (or -1, the default)
are replaced by that slider's default (ControlNetUnit's bound check); the image is decoded as is
(RGBA and grayscale stay so); `cached_call`; then `unload()` after every detect."""

import numpy as np
from fastapi import Body, FastAPI
from fastapi.exceptions import HTTPException
from modules.api import api
from PIL import Image

from scripts.supported_preprocessor import Preprocessor


def _bound(preprocessor, value, slider_name):
    cfg = getattr(preprocessor, slider_name)
    return cfg.value if value < cfg.minimum or value > cfg.maximum else value


def controlnet_api(_, app: FastAPI):
    @app.get("/controlnet/module_list")
    async def module_list(alias_names: bool = False):
        processors = Preprocessor.get_sorted_preprocessors()
        return {
            "module_list": [p.label if alias_names else p.name for p in processors],
            "module_detail": {
                (p.label if alias_names else p.name): {
                    "model_free": p.do_not_need_model,
                    "sliders": [
                        s.api_json for s in (p.slider_resolution, p.slider_1, p.slider_2, p.slider_3) if s.visible
                    ],
                }
                for p in processors
            },
        }

    @app.post("/controlnet/detect")
    async def detect(
        controlnet_module: str = Body("none", title="Controlnet Module"),
        controlnet_input_images: list[str] = Body([], title="Controlnet Input Images"),
        controlnet_processor_res: int = Body(-1, title="Controlnet Processor Resolution"),
        controlnet_threshold_a: float = Body(-1, title="Controlnet Threshold a"),
        controlnet_threshold_b: float = Body(-1, title="Controlnet Threshold b"),
        low_vram: bool = Body(False, title="Low vram"),
    ):
        preprocessor = Preprocessor.get_preprocessor(controlnet_module)
        if preprocessor is None:
            raise HTTPException(status_code=422, detail="Module not available")
        if len(controlnet_input_images) == 0:
            raise HTTPException(status_code=422, detail="No image selected")
        res = _bound(preprocessor, controlnet_processor_res, "slider_resolution")
        thr_a = _bound(preprocessor, controlnet_threshold_a, "slider_1")
        thr_b = _bound(preprocessor, controlnet_threshold_b, "slider_2")
        images = []
        for input_image in controlnet_input_images:
            img = np.array(api.decode_base64_to_image(input_image)).astype("uint8")
            result = preprocessor.cached_call(
                img, resolution=res, slider_1=thr_a, slider_2=thr_b, json_pose_callback=None, low_vram=low_vram
            )
            images.append(api.encode_pil_to_base64(Image.fromarray(result.display_images[0])))
        preprocessor.unload()
        return {"info": "Success", "images": images}
