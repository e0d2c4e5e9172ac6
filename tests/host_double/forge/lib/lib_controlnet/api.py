# ruff: noqa: B008 - FastAPI declares request bodies with Body() defaults, as ControlNet does
"""`/controlnet/detect` of Forge's built-in ControlNet: the preprocessor is called with the decoded
image as is and the thresholds unclamped (64 when omitted); no unload afterwards."""

import numpy as np
from fastapi import Body, FastAPI
from fastapi.exceptions import HTTPException
from modules.api import api
from modules_forge.shared import supported_preprocessors
from PIL import Image


def controlnet_api(_, app: FastAPI):
    @app.get("/controlnet/module_list")
    async def module_list():
        return {"module_list": list(supported_preprocessors)}

    @app.post("/controlnet/detect")
    async def detect(
        controlnet_module: str = Body("none", title="Controlnet Module"),
        controlnet_input_images: list[str] = Body([], title="Controlnet Input Images"),
        controlnet_processor_res: int = Body(512, title="Controlnet Processor Resolution"),
        controlnet_threshold_a: float = Body(64, title="Controlnet Threshold a"),
        controlnet_threshold_b: float = Body(64, title="Controlnet Threshold b"),
    ):
        processor_module = supported_preprocessors.get(controlnet_module, None)
        if processor_module is None:
            raise HTTPException(status_code=422, detail="Module not available")
        if len(controlnet_input_images) == 0:
            raise HTTPException(status_code=422, detail="No image selected")
        results = []
        for input_image in controlnet_input_images:
            img = np.array(api.decode_base64_to_image(input_image)).astype("uint8")
            results.append(
                processor_module(
                    img,
                    resolution=controlnet_processor_res,
                    slider_1=controlnet_threshold_a,
                    slider_2=controlnet_threshold_b,
                    json_pose_callback=None,
                )
            )
        return {"images": [api.encode_pil_to_base64(Image.fromarray(r)) for r in results], "info": "Success"}
