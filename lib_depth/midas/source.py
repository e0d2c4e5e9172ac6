"""Pipeline source for ordinary images (PNG/JPEG/WebP): image -> MiDaS -> depth (+ normal map).

Registered in `depth.pipeline.SOURCES` by `lib_depth/__init__.py`, so images get the same output
naming, post-processing options (cutoff, compress, noise, mask, bits) and error rules as EXR renders. Settings come from
`Job.extra`; the model is loaded once per process and settings (`estimator.get_estimator`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..depth.errors import DepthError, ImageTooLarge
from ..depth.exr import DEFAULT_MAX_PIXELS
from ..depth.pipeline import Job, SourceDepth
from .estimator import MidasEstimator, get_estimator
from .image_file import is_truncated, read_header
from .maps import DEFAULT_A, DEFAULT_BG_THRESHOLD, DEFAULT_RESOLUTION, nearness_to_depth, normal_map
from .settings import MidasSettings


@dataclass(frozen=True)
class ImageSettings:
    """What `Job.extra` may hold for an image; missing keys take the defaults."""

    resolution: int = DEFAULT_RESOLUTION
    bg_threshold: float = DEFAULT_BG_THRESHOLD
    a: float = DEFAULT_A
    normal: bool = False
    weights: str | None = None
    download: bool = False
    device: str | None = None
    precision: str | None = None

    @classmethod
    def from_extra(cls, extra: dict) -> ImageSettings:
        known = {k: v for k, v in extra.items() if k in cls.__dataclass_fields__ and v is not None}
        return cls(**known)


def read_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """uint8/uint16 HxW(xC) RGB(A) (alpha composited over white by midas). Raises DepthError naming the file."""
    return read_image_noted(path, max_pixels)[0]


def read_image_noted(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, tuple[str, ...]]:
    """`read_image`, and notes for the user (an animation's first frame is used).

    The size the header claims is checked against `max_pixels` before decoding: a decompression
    bomb (a few KiB claiming gigapixels) is refused before the decoder allocates for it.
    """
    try:
        data = np.fromfile(path, dtype=np.uint8)  # not cv2.imread: it cannot open non-ASCII paths on Windows
    except FileNotFoundError:
        raise DepthError("no such file", path) from None
    except IsADirectoryError:
        raise DepthError("is a folder, not an image", path) from None
    except OSError as exc:
        raise DepthError(f"cannot read the file ({exc.strerror or exc})", path) from None
    raw = data.tobytes()
    header = read_header(raw)
    notes: tuple[str, ...] = ()
    if header is not None:
        if header.width < 1 or header.height < 1:
            raise DepthError(f"damaged {header.kind} header (an image of {header.width} x {header.height})", path)
        if header.pixels > max_pixels:
            raise ImageTooLarge(
                f"image too large: the {header.kind} header claims {header.width} x {header.height} = "
                f"{header.pixels:,} pixels, over the limit of {max_pixels:,} (max_pixels, --max-pixels); "
                "refused before decoding", path)
        if header.frames > 1:
            notes = (f"animated WebP ({header.frames} frames): the first frame is used",)
    # JPEG: IMREAD_COLOR applies the EXIF orientation (phone photos); PNG/WebP: keep alpha and 16 bits.
    jpeg = path.suffix.lower() in (".jpg", ".jpeg") or (header is not None and header.kind == "JPEG")
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR if jpeg else cv2.IMREAD_UNCHANGED) if data.size else None
    except (cv2.error, MemoryError):
        size = f" of {header.width} x {header.height}" if header is not None else ""
        raise DepthError(f"not enough memory to decode the image{size}", path) from None
    if image is None:
        if header is not None and is_truncated(raw, header.kind):
            raise DepthError(f"the {header.kind} file is truncated (it ends before its last byte): an interrupted "
                             "download or copy? Save or download it again", path)
        raise DepthError("cannot decode the image: the file is damaged or not a PNG, JPEG or WebP image", path)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return image, notes


def load_image(job: Job) -> SourceDepth:
    """Image file -> MiDaS nearness -> depth (larger = farther, NaN = background) for `process`."""
    settings = ImageSettings.from_extra(job.extra)
    image, notes = read_image_noted(job.source, job.max_pixels)
    estimator = get_estimator(
        MidasSettings(
            weights=settings.weights,
            allow_download=settings.download,
            device=settings.device,
            precision=settings.precision,
        )
    )
    return estimate_depth(image, estimator, settings, notes)


def estimate_depth(
    image: np.ndarray, estimator: MidasEstimator, settings: ImageSettings, notes: tuple[str, ...] | list[str] = ()
) -> SourceDepth:
    """Image -> MiDaS nearness -> depth (+ normal map): the command line's and the HTTP API's one path.
    `notes` (what reading the file had to say) come back with the estimator's own (a capped side)."""
    estimated = estimator.estimate(image, settings.resolution)
    nearness = estimated.nearness
    depth = nearness_to_depth(nearness, settings.bg_threshold)
    extra_images = {}
    if settings.normal:
        extra_images["normal"] = normal_map(nearness, settings.a, settings.bg_threshold, settings.resolution)
    return SourceDepth(depth, None, extra_images, (*notes, *estimated.notes))
