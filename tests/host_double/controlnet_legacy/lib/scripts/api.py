# ruff: noqa: B008 - FastAPI declares request bodies with Body() defaults, as ControlNet does
"""`/controlnet/detect` of ControlNet <= 1.1.443: functions snapshotted (cached) when the app starts,
thresholds sent as given (64 when omitted), then the module's unload function."""

import numpy as np
from fastapi import Body, FastAPI
from fastapi.exceptions import HTTPException
from modules.api import api
from PIL import Image

from scripts import global_state


def controlnet_api(_, app: FastAPI):
    cached_cn_preprocessors = global_state.cache_preprocessors(global_state.cn_preprocessor_modules)

    @app.get("/controlnet/module_list")
    async def module_list():
        return {"module_list": list(global_state.ui_preprocessor_keys)}

    @app.post("/controlnet/detect")
    async def detect(
        controlnet_module: str = Body("none", title="Controlnet Module"),
        controlnet_input_images: list[str] = Body([], title="Controlnet Input Images"),
        controlnet_processor_res: int = Body(512, title="Controlnet Processor Resolution"),
        controlnet_threshold_a: float = Body(64, title="Controlnet Threshold a"),
        controlnet_threshold_b: float = Body(64, title="Controlnet Threshold b"),
        low_vram: bool = Body(False, title="Low vram"),
    ):
        controlnet_module = global_state.reverse_preprocessor_aliases.get(controlnet_module, controlnet_module)
        if controlnet_module not in cached_cn_preprocessors:
            raise HTTPException(status_code=422, detail="Module not available")
        if len(controlnet_input_images) == 0:
            raise HTTPException(status_code=422, detail="No image selected")
        processor_module = cached_cn_preprocessors[controlnet_module]
        results = []
        for input_image in controlnet_input_images:
            img = np.array(api.decode_base64_to_image(input_image)).astype("uint8")
            results.append(
                processor_module(
                    img,
                    res=controlnet_processor_res,
                    thr_a=controlnet_threshold_a,
                    thr_b=controlnet_threshold_b,
                    json_pose_callback=None,
                    low_vram=low_vram,
                )[0]
            )
        global_state.cn_preprocessor_unloadable.get(controlnet_module, lambda: None)()
        return {"images": [api.encode_pil_to_base64(Image.fromarray(r)) for r in results], "info": "Success"}
