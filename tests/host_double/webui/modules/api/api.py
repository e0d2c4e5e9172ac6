"""What extensions use from A1111's `modules/api/api.py`: image (de)coding for JSON bodies, and the
middleware that turns any exception into a JSON reply — status `vars(e).get("status_code", 500)`,
body `{"error": type name, "detail": vars(e).get("detail", ""), "body": ..., "errors": str(e)}`."""

import base64
import io
import sys
import traceback

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from PIL import Image


def decode_base64_to_image(encoding: str) -> Image.Image:
    if encoding.startswith("data:image/"):
        encoding = encoding.split(";")[1].split(",")[1]
    try:
        return Image.open(io.BytesIO(base64.b64decode(encoding)))
    except Exception as e:
        raise HTTPException(status_code=500, detail="Invalid encoded image") from e


def encode_pil_to_base64(image: Image.Image) -> bytes:
    with io.BytesIO() as output:
        image.save(output, format="PNG")
        return base64.b64encode(output.getvalue())


def api_middleware(app: FastAPI) -> None:
    def handle_exception(request: Request, e: Exception):
        err = {
            "error": type(e).__name__,
            "detail": vars(e).get("detail", ""),
            "body": vars(e).get("body", ""),
            "errors": str(e),
        }
        if not isinstance(e, HTTPException):
            print(f"API error: {request.method}: {request.url} {err}", file=sys.stderr)
            traceback.print_exc()
        return JSONResponse(status_code=vars(e).get("status_code", 500), content=jsonable_encoder(err))

    @app.middleware("http")
    async def exception_handling(request: Request, call_next):
        try:
            return await call_next(request)
        except Exception as e:
            return handle_exception(request, e)

    @app.exception_handler(Exception)
    async def fastapi_exception_handler(request: Request, e: Exception):
        return handle_exception(request, e)

    @app.exception_handler(HTTPException)
    async def http_exception_handler(request: Request, e: HTTPException):
        return handle_exception(request, e)
