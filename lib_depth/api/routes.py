"""The `/depth-tools/v1` routes (FastAPI): thin glue between HTTP and `work`.

`make_router(...)` is mounted by the WebUI adapter (with `--api`) and by the standalone server; the
host passes its MiDaS settings as a function, read at each request, so a settings change applies
without a restart. User mistakes come back as 4xx with `detail` (never 500): 400 bad input, 413 too
large, 415 neither JSON nor a form, 422 bad options, 503 MiDaS weights missing or unusable.
Sequences are jobs (`/sequence`: 202 and an id, then its status, result and interrupt), run by
`sequence_jobs` in a background thread, with their files in `jobs_dir`.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from .. import __version__
from ..depth.errors import DepthError, ImageTooLarge, OptionsError
from ..midas import WeightsError
from .models import (
    ErrorResponse,
    ExrOptions,
    ExrResponse,
    ExrUpload,
    HistogramOptions,
    HistogramResponse,
    HistogramUpload,
    InfoResponse,
    MidasOptions,
    MidasResponse,
    MidasUpload,
    OptionsInvalid,
    SequenceOptions,
    SequenceStatus,
    SequenceUpload,
    json_schema,
    parse_options,
)
from .sequence_jobs import SequenceJobs
from .uploads import ApiError, ApiLimits, Upload, receive_upload
from .work import SettingsFn, default_settings, exr_answer, histogram_answer, info_answer, midas_answer

API_PREFIX = "/depth-tools/v1"
#: The limits a router has unless given others (a name, not a call in the signature: ruff's
#: immutable-call list cannot name the class since the repository root is also a package, ComfyUI's).
DEFAULT_LIMITS = ApiLimits()
TITLE = "Depth Tools API"
#: Where sequence jobs keep their files unless the host names a folder: it outlives a server restart.
DEFAULT_JOBS_DIR = Path(tempfile.gettempdir()) / "depth-tools-api"

_ERRORS = {
    400: "bad input: not an EXR/image, damaged, no depth in it, malformed body",
    413: "too large: the upload (see /info max_upload_bytes) or the image's pixels (max_pixels)",
    404: "no such sequence job (after a restart: POST the same upload again), or it wrote no maps",
    409: "the sequence job has not stopped yet",
    415: "the body is neither application/json nor multipart/form-data",
    422: "bad options: unknown or out of range, a cutoff below the nearest depth, a channel not in the file",
}


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    described = {**_ERRORS, 503: "the MiDaS weights are missing or unusable (the message says where to put them)"}
    return {code: {"model": ErrorResponse, "description": described[code]} for code in codes}


def upload_body(model: type[BaseModel], file_field: str) -> dict[str, Any]:
    """OpenAPI for a body that is JSON (file in base64) or a multipart form (file as a part)."""
    as_json = json_schema(model)
    form = copy.deepcopy(as_json)
    form["title"] = f"{as_json.get('title', model.__name__)} (multipart)"
    form["properties"][file_field] = {"type": "string", "format": "binary", "title": file_field.capitalize(),
                                      "description": f"the file (curl -F {file_field}=@FILE)"}
    content = {"application/json": {"schema": as_json}, "multipart/form-data": {"schema": form}}
    return {"requestBody": {"required": True, "content": content}}


def http_error(exc: BaseException, upload: Upload | None) -> HTTPException | None:
    """The HTTP answer to a user's mistake; None for anything else (a bug: let it be a 500)."""
    if isinstance(exc, ApiError):
        return HTTPException(exc.status, exc.detail)
    if isinstance(exc, OptionsInvalid):
        return HTTPException(422, str(exc))
    if isinstance(exc, ClientDisconnect):  # nobody to answer; not a server error worth a traceback
        return HTTPException(400, "the client disconnected before the upload was complete")
    if isinstance(exc, MemoryError):
        label = upload.filename if upload is not None else "upload"
        return HTTPException(413, f"{label}: not enough memory for this image")
    if not isinstance(exc, DepthError):
        return None
    status = 503 if isinstance(exc, WeightsError) else 413 if isinstance(exc, ImageTooLarge) else 400
    if isinstance(exc, OptionsError) or (exc.reason.startswith("no channel named") and status == 400):
        status = 422
    detail = str(exc)
    if upload is not None and exc.path == str(upload.path):  # the temporary file: say the client's name
        detail = f"{upload.filename}: {exc.reason}"
    return HTTPException(status, detail)


Work = Callable[[Upload, Any], dict[str, Any]]
Handler = Callable[..., Awaitable[JSONResponse]]


def make_handler(limits: ApiLimits) -> Handler:
    """One upload route's body: receive within `limits`, parse the options, run `work` in a thread,
    and turn a user's mistake into its HTTP status (a bug stays a 500)."""

    async def handle(request: Request, field: str, suffix: str, model: type[BaseModel], work: Work,
                     status: int = 200) -> JSONResponse:
        upload: Upload | None = None
        try:
            async with receive_upload(request, field, suffix, limits) as upload:
                options = parse_options(model, upload.fields)
                return JSONResponse(await run_in_threadpool(work, upload, options), status_code=status)
        except Exception as exc:
            error = http_error(exc, upload)
            if error is None:
                raise
            raise error from None

    return handle


def add_exr_routes(router: APIRouter, handle: Handler, limits: ApiLimits) -> None:
    @router.post("/exr", response_model=ExrResponse, responses=_responses(400, 413, 415, 422),
                 openapi_extra=upload_body(ExrUpload, "exr"), summary="EXR render -> depth map, mask, histogram")
    async def exr(request: Request) -> JSONResponse:
        """The command line's `python -m lib_depth FILE.exr --json` for one uploaded EXR: the depth map
        PNG (and mask PNG) in base64, near/far, the channel read, the histogram and suggested cuts."""
        return await handle(request, "exr", ".exr", ExrOptions, lambda u, o: exr_answer(u, o, limits))

    @router.post("/histogram", response_model=HistogramResponse, responses=_responses(400, 413, 415, 422),
                 openapi_extra=upload_body(HistogramUpload, "exr"), summary="EXR render -> histogram and cuts")
    async def histogram(request: Request) -> JSONResponse:
        """`--depth_cutoff histo`: the 20-bucket histogram and the suggested cuts, no PNG made."""
        return await handle(request, "exr", ".exr", HistogramOptions, lambda u, o: histogram_answer(u, o, limits))


def add_midas_routes(router: APIRouter, handle: Handler, limits: ApiLimits,
                     settings_fn: SettingsFn, after_midas: Callable[[], None] | None) -> None:
    def midas_work(upload: Upload, options: MidasOptions) -> dict[str, Any]:
        try:
            return midas_answer(upload, options, settings_fn, limits)
        finally:
            if after_midas is not None:
                after_midas()

    @router.post("/midas", response_model=MidasResponse, responses=_responses(400, 413, 415, 422, 503),
                 openapi_extra=upload_body(MidasUpload, "image"), summary="Image -> MiDaS depth, normal, mask")
    async def midas(request: Request) -> JSONResponse:
        """An image (PNG, JPEG, WebP) through MiDaS, then the same post-processing as EXR renders;
        depth is relative (0 nearest .. 1 farthest) for `cutoff` and the histogram."""
        return await handle(request, "image", ".png", MidasOptions, midas_work)

    @router.get("/info", response_model=InfoResponse, summary="Version, MiDaS weights and device")
    def info() -> dict[str, Any]:
        """What this server has: its version, whether the MiDaS weights are found (and where), the
        device and precision, whether the model is loaded, and the upload bounds. Loads nothing."""
        return info_answer(settings_fn, limits)


def add_sequence_routes(router: APIRouter, handle: Handler, jobs: SequenceJobs) -> None:
    def answer(run: Callable[[], Any]) -> Any:
        try:
            return run()
        except ApiError as exc:
            raise HTTPException(exc.status, exc.detail) from None

    @router.post("/sequence", status_code=202, response_model=SequenceStatus,
                 responses=_responses(400, 413, 415, 422, 503), openapi_extra=upload_body(SequenceUpload, "file"),
                 summary="Frames (a zip) or a video -> a sequence job (one mapping for all frames)")
    async def sequence(request: Request) -> JSONResponse:
        """`python -m lib_depth --sequence` as a job: a zip of EXR or image frames, or a video file,
        with the command line's options. Answers 202 and the job's status at once; the job runs in the
        background, one at a time. The same upload with the same options is the same job: POSTed
        again (after an interrupt, a kill or a restart) it resumes, skipping the maps already written."""
        return await handle(request, "file", ".upload", SequenceOptions, lambda u, o: jobs.submit(u, o).status(), 202)

    @router.get("/sequence/{job_id}", response_model=SequenceStatus, responses=_responses(404),
                summary="A sequence job's state and progress")
    def sequence_status(job_id: str) -> dict[str, Any]:
        """State (queued, running, done, failed, interrupted), frames done of all, one line per failed frame."""
        return answer(lambda: jobs.get(job_id).status())

    @router.get("/sequence/{job_id}/result", responses={200: {"content": {"application/zip": {}}},
                                                         **_responses(404, 409)},
                summary="A stopped sequence job's maps (and depth video) as a zip")
    def sequence_result(job_id: str) -> FileResponse:
        """The PNGs written (or found up to date), named as the command line names them, in frame
        order, and `depth.mp4` when `video_out` was asked for and the job is done."""
        path = answer(lambda: jobs.result(job_id))
        stem = Path(jobs.get(job_id).work.label).stem
        return FileResponse(path, media_type="application/zip", filename=f"{stem}_depth.zip")

    @router.delete("/sequence/{job_id}", status_code=202, response_model=SequenceStatus, responses=_responses(404),
                   summary="Interrupt a sequence job between two frames")
    def sequence_interrupt(job_id: str) -> dict[str, Any]:
        """Stops the job after the frame in hand (a queued one never starts); the maps written stay,
        complete, and POSTing the same upload again resumes it. The answer is the status at the time."""
        return answer(lambda: jobs.interrupt(job_id).status())


def add_doc_routes(router: APIRouter) -> None:
    @router.get("/openapi.json", include_in_schema=False)
    def openapi() -> JSONResponse:
        return JSONResponse(get_openapi(title=TITLE, version=__version__, routes=router.routes,
                                        description="Depth maps for ControlNet from EXR renders and images."))

    @router.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=f"{API_PREFIX}/openapi.json", title=TITLE)


def make_router(
    settings_fn: SettingsFn = default_settings,
    limits: ApiLimits = DEFAULT_LIMITS,
    after_midas: Callable[[], None] | None = None,
    dependencies: Sequence[Any] = (),
    jobs_dir: Path | None = None,
) -> APIRouter:
    """The routes, for `app.include_router(...)`.

    `settings_fn(model)`: the host's settings for that depth model (WebUI settings, or the launcher's
    flags), read per request: each model's weights are its own. `limits`: upload bytes and image
    pixels. `after_midas`: called after each image request (the WebUI frees or offloads the model
    as its memory settings ask). `dependencies`: FastAPI
    dependencies for every route (the WebUI's `--api-auth`). `jobs_dir`: where sequence jobs keep
    their uploads and maps (a folder per job, kept for a resume; None: `DEFAULT_JOBS_DIR`).
    """
    router = APIRouter(prefix=API_PREFIX, tags=["Depth Tools"], dependencies=list(dependencies))
    handle = make_handler(limits)
    add_exr_routes(router, handle, limits)
    add_midas_routes(router, handle, limits, settings_fn, after_midas)
    jobs = SequenceJobs(jobs_dir or DEFAULT_JOBS_DIR, settings_fn, limits, after_midas)
    add_sequence_routes(router, handle, jobs)
    add_doc_routes(router)
    return router
