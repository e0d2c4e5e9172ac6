"""Video files in and depth videos out, through PyAV (`av`, FFmpeg's libraries in a wheel).

Why frames on disk. A sequence's frames are files (the stored depths, the outputs' provenance and a
rerun's resume are keyed by them), so a video is first decoded, one frame at a time, into numbered
PNGs under the output folder's `.depth-tools/`: memory stays that of one frame whatever the length,
and a rerun after a kill finds them (the folder is complete only once its marker is written).

The depth video is what video pipelines read: 8-bit, 3 equal channels, near = white, with the one
mapping the sequence gave every frame (16-bit maps are taken down to their top 8 bits), H.264 in
yuv420p (even sides: an odd last row or column is repeated) at the source's frame rate.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..depth import provenance
from ..depth.dependencies import require
from ..depth.errors import DepthError
from ..depth.png import write_bytes_atomic

VIDEO_SUFFIXES = (".avi", ".m4v", ".mkv", ".mov", ".mp4", ".webm")
MARKER = "complete.json"
DEFAULT_FPS = Fraction(24)


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def _av(feature: str):  # the module
    return require("av", feature)


def frames_folder(video: Path, output_dir: Path) -> Path:
    """Where `video`'s decoded frames go: named by the file's stamp, so an edited video decodes again."""
    stamp = provenance.InputStamp.of(video)
    key = provenance.settings_digest({"video": stamp.path, "size": stamp.size, "mtime": stamp.mtime_ns})
    return output_dir / provenance.FOLDER / f"frames-{video.stem}-{key[:12]}"


def decode_frames(video: Path, output_dir: Path) -> tuple[list[Path], Fraction]:
    """The video's frames as `<stem>_000001.png` ... (decoded once; reused when complete) and its fps."""
    folder = frames_folder(video, output_dir)
    marker = folder / MARKER
    if marker.is_file():
        done = json.loads(marker.read_text(encoding="utf8"))
        return [folder / name for name in done["frames"]], Fraction(done["fps"])
    av = _av("reading video files")
    import cv2

    names: list[str] = []
    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            fps = Fraction(stream.average_rate) if stream.average_rate else DEFAULT_FPS
            for frame in container.decode(stream):
                rgb = frame.to_ndarray(format="rgb24")
                ok, png = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
                if not ok:
                    raise DepthError("cannot encode a decoded frame as PNG", video)
                if not names:  # made with the first frame: a file that is no video leaves nothing behind
                    folder.mkdir(parents=True, exist_ok=True)
                names.append(f"{video.stem}_{len(names) + 1:06d}.png")
                write_bytes_atomic(folder / names[-1], png.tobytes())
    except (av.error.FFmpegError, IndexError) as exc:  # not a video, damaged, no video stream
        raise DepthError(f"cannot decode this video ({_first_line(exc)})", video) from None
    if not names:
        raise DepthError("the video has no frames", video)
    write_bytes_atomic(marker, json.dumps({"frames": names, "fps": str(fps)}).encode())
    return [folder / name for name in names], fps


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _even(gray: np.ndarray) -> np.ndarray:
    h, w = gray.shape
    return np.pad(gray, ((0, h % 2), (0, w % 2)), mode="edge")


def as_video_frame(depth_map: np.ndarray) -> np.ndarray:
    """A depth map (8 or 16 bit, gray) -> H x W x 3 uint8, even sides."""
    gray = depth_map if depth_map.ndim == 2 else depth_map[:, :, 0]
    if gray.dtype == np.uint16:
        gray = (gray >> 8).astype(np.uint8)
    return np.repeat(_even(np.asarray(gray, np.uint8))[:, :, None], 3, axis=2)


def write_depth_video(maps: Iterable[Path], target: Path, fps: Fraction = DEFAULT_FPS) -> int:
    """Encode the depth PNGs, in order, as `target` (written whole or not at all); the frame count."""
    av = _av("writing depth videos")
    import cv2

    partial = target.with_name(f".{target.name}.partial{target.suffix}")
    count = 0
    try:
        with av.open(str(partial), mode="w") as container:
            stream = None
            for path in maps:
                depth_map = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
                if depth_map is None:
                    raise DepthError("cannot read this depth map for the video", path)
                frame = as_video_frame(depth_map)
                if stream is None:
                    stream = container.add_stream("libx264", rate=fps)
                    stream.height, stream.width = frame.shape[:2]
                    stream.pix_fmt = "yuv420p"
                    stream.options = {"crf": "12"}
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
                count += 1
            if stream is not None:
                for packet in stream.encode():
                    container.mux(packet)
        if count == 0:
            raise DepthError("no depth maps to put in the video", target)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return count


def read_video_frames(video: Path) -> list[np.ndarray]:
    """Every frame of a (short) video as H x W x 3 uint8 RGB: for checking what was written."""
    av = _av("reading video files")
    with av.open(str(video)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
