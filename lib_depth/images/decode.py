"""An image file (PNG, JPEG, WebP) -> its pixels, refusing what would hurt before decoding it.

The size the header claims is checked first (`image_file`), so a decompression bomb never reaches
the decoder; a truncated file is named as such. cv2 decodes (it releases the GIL); JPEGs get their
EXIF orientation applied, PNG and WebP keep alpha and 16 bits.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..depth.errors import DepthError, ImageTooLarge
from ..depth.exr import DEFAULT_MAX_PIXELS
from .image_file import is_truncated, read_header

#: The file types the image route reads (any case).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


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
