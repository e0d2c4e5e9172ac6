"""Request and response schemas of the HTTP API, for pydantic 1.10 (A1111) and 2.x (Forge) alike.

Plain fields with `Field(default, description=...)` and numeric bounds only (no validators, no
model config), so both pydantic generations build the same schema; `X | None` needs Python 3.10,
which every WebUI runs. Options mirror the command line's flags and take its defaults; the core
checks the rest and says what is wrong in the command line's words.
"""

import math
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from ..depth.normals import BLENDER_DEFAULT_FOV
from ..depth.process import DEFAULT_BACKGROUND_ABOVE
from ..midas.maps import DEFAULT_A, DEFAULT_BG_THRESHOLD, DEFAULT_RESOLUTION


class PostOptions(BaseModel):
    """Where the levels go: the command line's post-processing flags, for EXR renders and images."""

    cutoff: float | None = Field(
        None, description="--depth_cutoff: depths beyond this become the far level (black); 0 is a valid cutoff; "
        "null (or \"histo\") = no cutoff. The histogram and suggested cuts are always in the answer.")
    compress: bool = Field(False, description="--compress_map: remove empty depth ranges (occupied depths spread "
                           "over all levels)")
    noise: bool = Field(False, description="--noise: fill the far level with uniform noise")
    seed: int = Field(0, description="--seed: noise seed; same seed, same bytes")
    mask: bool = Field(False, description="--mask: also return the mask PNG (white = subject, black = far level)")
    bits: int = Field(8, description="--bits: PNG bit depth, 8 or 16")
    invert: bool = Field(False, description="--invert: near = black instead of white")


class ReadOptions(BaseModel):
    """How a render's depth is read: shared by /exr, /histogram and /sequence."""

    channel: str | None = Field(None, description="--channel: the EXR channel to read; null = Y, Z, *.Depth.Z, "
                                   "depth.*, R, or the only channel")
    background_above: float = Field(
        DEFAULT_BACKGROUND_ABOVE, gt=0, description="--background-above: depths with |d| above this are background, "
        "like NaN and inf")


class ExrOptions(PostOptions, ReadOptions):
    """`POST /depth-tools/v1/exr` options (besides the file)."""

    normal: bool = Field(False, description="--normal: also return the render's exact normal map (ControlNet 1.1 "
                         "normalbae colours: left = red, up = green, facing = blue)")
    fov: float = Field(BLENDER_DEFAULT_FOV, gt=0, lt=180, description="--fov: the render camera's horizontal field "
                       "of view in degrees (Blender's default camera: 39.6)")
    depth_is: str = Field("planar", description="--depth-is: planar (along the view axis: Blender's Depth, Iray's "
                          "Depth canvas) or distance (along each pixel's ray: Iray's Distance canvas)")
    normal_style: str = Field("bae", description="--normal-style: bae (ControlNet 1.1) or midas (normal_midas order)")
    camera_rotation: list[float] | str | None = Field(
        None, description="--camera-rotation: the camera's X, Y, Z rotation in degrees (Blender's camera panel), "
        "a list or (in a form) \"X,Y,Z\": use the render's own world-space Normal pass instead of the depth")


class HistogramOptions(ReadOptions):
    """`POST /depth-tools/v1/histogram` options: what decides the histogram, nothing more."""


class ModelOptions(BaseModel):
    """Which depth model an image goes through, and how: shared by /midas and /sequence."""

    model: str = Field("midas", description="--model: midas (default) or depth-anything-v2 (see /info's `models`); "
                       "/sequence also takes video-depth-anything")
    resolution: int | None = Field(None, ge=64, le=8192,
                                   description="--resolution: the short side the network sees (null: the model's "
                                   f"default, {DEFAULT_RESOLUTION} for MiDaS, 518 for Depth Anything V2); maps "
                                   "keep the image's size")
    bg_threshold: float = Field(DEFAULT_BG_THRESHOLD, ge=0, le=1, description="--bg-threshold: normalised nearness "
                                "below this is background (far level in depth, flat in normal); 0 = ControlNet's")
    precision: str | None = Field(None, description="--precision: auto (null), fp32, fp16 or bf16; another "
                                     "precision than the server's loads a second copy of the model")


class MidasOptions(PostOptions, ModelOptions):
    """`POST /depth-tools/v1/midas` options: the ComfyUI node's parameters, then the same post-processing."""

    a: float = Field(DEFAULT_A, ge=0, le=5 * math.pi, description="-a: z of the normal map (default 2*pi)")
    normal: bool = Field(True, description="--normal: also return the normal map (ControlNet's normal_midas)")


class SequenceOptions(PostOptions, ReadOptions, ModelOptions):
    """`POST /depth-tools/v1/sequence` options: `--sequence` with the post-processing flags; `model` and
    its settings apply to image frames and videos, `channel` and `background_above` to EXR frames."""

    video_out: bool = Field(False, description="--video-out: also put the depth maps, in frame order, in the result "
                            "as depth.mp4 (8-bit H.264, the source video's frame rate or `fps`)")
    fps: float | None = Field(None, gt=0, le=1000, description="--fps: the depth video's frame rate (null: the "
                              "uploaded video's, 24 for frames)")


class ExrUpload(ExrOptions):
    """JSON body of /exr; a multipart form has the same fields with the file in `exr`."""

    exr: str = Field(..., description="the EXR file, base64")
    filename: str | None = Field(None, description="the file's name, used in error messages (as the CLI's)")


class HistogramUpload(HistogramOptions):
    exr: str = Field(..., description="the EXR file, base64")
    filename: str | None = Field(None, description="the file's name, used in error messages")


class MidasUpload(MidasOptions):
    image: str = Field(..., description="PNG, JPEG or WebP image, base64")
    filename: str | None = Field(None, description="the file's name, used in error messages")


class SequenceUpload(SequenceOptions):
    """JSON body of /sequence; a multipart form (the usual way: the files are large) has the file in `file`."""

    file: str = Field(..., description="a zip of EXR or image frames, or a video file, base64")
    filename: str | None = Field(None, description="the file's name: a video's frames and the maps are named by it")


class Bucket(BaseModel):
    index: int = Field(..., description="0..19, near to far")
    lower_edge: float = Field(..., description="the bucket's nearest depth (a cut here drops it and all beyond)")
    count: int = Field(..., description="valid pixels in the bucket")
    share: float = Field(..., description="count / all pixels (background included), as the seed tool prints")


class HistogramOut(BaseModel):
    buckets: list[Bucket] = Field(..., description="20 equal buckets between min and max; the last includes max")
    min: float = Field(..., description="nearest valid depth")
    max: float = Field(..., description="farthest valid depth")
    suggestions: list[float] = Field(..., description="suggested cuts: where empty depth ranges begin")


class HistogramResponse(BaseModel):
    file: str = Field(..., description="the upload's name")
    width: int = Field(..., description="pixels")
    height: int = Field(..., description="pixels")
    channel: str | None = Field(None, description="the channel read")
    histogram: HistogramOut = Field(..., description="the histogram and suggested cuts (as `--depth_cutoff histo`)")


class ExrResponse(BaseModel):
    file: str = Field(..., description="the upload's name")
    width: int = Field(..., description="pixels")
    height: int = Field(..., description="pixels")
    bits: int = Field(..., description="8 or 16")
    channel: str | None = Field(None, description="the channel read")
    near: float = Field(..., description="the depth drawn at the top level (nearest valid)")
    far: float = Field(..., description="the depth drawn at the far level (the cutoff, or the farthest valid)")
    depth: str = Field(..., description="depth map PNG, base64 (<stem>.depth.png in the CLI)")
    mask: str | None = Field(None, description="mask PNG (1-bit), base64, when `mask` was asked for")
    normal: str | None = Field(None, description="normal map PNG (RGB), base64, when `normal` was asked for")
    histogram: HistogramOut = Field(..., description="the histogram and suggested cuts (as `--depth_cutoff histo`)")


class MidasResponse(BaseModel):
    file: str = Field(..., description="the upload's name")
    width: int = Field(..., description="pixels")
    height: int = Field(..., description="pixels")
    bits: int = Field(..., description="8 or 16")
    near: float = Field(..., description="relative depth drawn at the top level (0 = nearest)")
    far: float = Field(..., description="relative depth drawn at the far level (1 = farthest, or the cutoff)")
    depth: str = Field(..., description="depth map PNG, base64")
    normal: str | None = Field(None, description="normal map PNG (RGB), base64, when `normal` is on")
    mask: str | None = Field(None, description="mask PNG (1-bit), base64, when `mask` was asked for")
    histogram: HistogramOut = Field(..., description="the histogram and suggested cuts (as `--depth_cutoff histo`)")
    device: str = Field(..., description="where the network ran")
    precision: str = Field(..., description="fp32, fp16 or bf16")
    model: str = Field("midas", description="the depth model that ran")


class SequenceStatus(BaseModel):
    id: str = Field(..., description="the job's id: the same upload with the same options is the same job")
    state: str = Field(..., description="queued, running, done, failed or interrupted")
    stage: str = Field(..., description="what it is doing: waiting, decoding, estimating, converting, video, finished")
    file: str = Field(..., description="the upload's name")
    frames: int = Field(..., description="frames in the sequence (0 until they are listed)")
    estimated: int = Field(0, description="image frames run through the depth model by this run (a resumed job "
                           "reuses the depths it stored)")
    done: int = Field(..., description="frames finished: converted + skipped + failed")
    converted: int = Field(..., description="frames whose maps were written by this run")
    skipped: int = Field(..., description="frames whose maps were already there and up to date (a resumed job)")
    failed: int = Field(..., description="frames left out, one line each in `errors`")
    errors: list[str] = Field(..., description="one line per failed frame, naming it")
    gaps: list[str] = Field(..., description="missing frame numbers in the names, as the command line warns")
    message: str | None = Field(None, description="why the whole job failed (one line), when it did")
    result: str | None = Field(None, description="where the zip of the maps is, once the job has stopped")


class ModelInfo(BaseModel):
    name: str = Field(..., description="what `model` says: midas, depth-anything-v2")
    label: str = Field(..., description="the model's name for people")
    licence: str = Field(..., description="the weights' licence(s); restricted ones are never downloaded")
    default_resolution: int = Field(..., description="the resolution used when none is given")
    weights_found: bool = Field(..., description="whether a weights file is there to load")
    weights: str | None = Field(None, description="the file that would be (or was) loaded")
    loaded: bool = Field(..., description="whether the model is in memory now (one model at a time)")


class InfoResponse(BaseModel):
    version: str = Field(..., description="Depth Tools version")
    weights_found: bool = Field(..., description="whether a MiDaS weights file is there to load")
    weights: str | None = Field(None, description="the file that would be (or was) loaded")
    searched: list[str] = Field(..., description="folders searched for it, in order (besides the Hugging Face cache)")
    download: bool = Field(..., description="whether missing weights are downloaded on first use")
    loaded: bool = Field(..., description="whether the model is in memory now")
    device: str = Field(..., description="where MiDaS runs: the loaded model's device, else the setting (auto)")
    precision: str = Field(..., description="the loaded model's precision, else the setting (auto)")
    max_upload_bytes: int = Field(..., description="largest file accepted (413 beyond)")
    max_pixels: int = Field(..., description="largest image accepted, in pixels (413 beyond)")
    models: list[ModelInfo] = Field(..., description="every depth model for images: found, loaded, licence")


class ErrorResponse(BaseModel):
    detail: str = Field(..., description="what was wrong, in the command line's words")


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema (flat models only: no references to resolve)."""
    build = getattr(model, "model_json_schema", None)
    return build() if build is not None else model.schema()


def field_names(model: type[BaseModel]) -> list[str]:
    fields = getattr(model, "model_fields", None)
    if fields is None:  # pydantic 1 (on pydantic 2 `__fields__` is deprecated)
        fields = model.__fields__
    return list(fields)


class OptionsInvalid(ValueError):
    """Options that fail the schema; the message lists each field and what is wrong."""


def parse_options(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    """`model(**data)`, refusing unknown names (a typo must not be ignored) and naming each bad field."""
    known = field_names(model)
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise OptionsInvalid(f"unknown option(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)}")
    try:
        return model(**data)
    except ValidationError as exc:
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise OptionsInvalid("; ".join(parts)) from None
