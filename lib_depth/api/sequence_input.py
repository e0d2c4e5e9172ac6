"""A sequence upload -> its job folder, and the frames in it: what `POST /sequence` checks before it
answers 202, so that a bad upload is a 4xx now rather than a failed job later.

Why a folder keyed by content. The sequence core resumes by its records (an output is up to date
when its frame's stamp and settings match), and a frame's stamp is its path, size and time. So the
upload is kept in a folder named by its bytes and the options, under its own name, and unpacked
(or decoded) once, with a marker written last: the same upload POSTed again, after a kill or a
server restart, finds the same frame files with the same stamps, and every map already written is
skipped, as a rerun of the command line skips it.

The folder: `upload/<name>` (the file as sent), `frames/` (a zip's frames, `complete.json` last),
`maps/` (the PNGs, the core's `.depth-tools/` records, a video's decoded frames), `result.zip`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..depth import provenance
from ..depth.errors import DepthError, ImageTooLarge
from ..depth.exr import EXR_SUFFIX
from ..depth.frames import FrameList, expand_frames
from ..depth.png import write_bytes_atomic
from ..images import IMAGE_SUFFIXES
from ..images.video_file import MARKER
from .models import SequenceOptions

#: what a zip's frames may be: the command line's `--sequence` suffixes (a video is uploaded alone)
FRAME_SUFFIXES = tuple(sorted((EXR_SUFFIX, *IMAGE_SUFFIXES)))
#: options that only shape the depth video, made again on every run: not part of the job's key
VIDEO_ONLY = ("video_out", "fps")
ZIP_MAGIC = b"PK\x03\x04"
CHUNK = 1 << 20


def options_dict(options: SequenceOptions) -> dict[str, Any]:
    dump = getattr(options, "model_dump", None)  # pydantic 2; 1.10 has .dict()
    return dump() if dump is not None else options.dict()


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def job_key(upload_hash: str, name: str, options: SequenceOptions) -> str:
    """The job's id: the upload's bytes and name (a video's frames, so its maps, are named by it) and
    every option that decides a map."""
    kept = {k: v for k, v in options_dict(options).items() if k not in VIDEO_ONLY}
    return provenance.settings_digest({"upload": upload_hash, "name": name, "options": kept})[:20]


@dataclass(frozen=True, kw_only=True)
class JobFolder:
    """Where one job keeps its upload, frames and maps (see the module's docstring)."""

    root: Path
    name: str  # the upload's name: the frames (a video's) and the result are named by it

    @property
    def upload(self) -> Path:
        return self.root / "upload" / self.name

    @property
    def frames(self) -> Path:
        return self.root / "frames"

    @property
    def maps(self) -> Path:
        return self.root / "maps"

    @property
    def result(self) -> Path:
        return self.root / "result.zip"

    @property
    def is_zip(self) -> bool:
        with self.upload.open("rb") as fh:
            return fh.read(4) == ZIP_MAGIC


def safe_name(label: str) -> str:
    return label if label not in ("", ".", "..") else "upload"


def keep_upload(temporary: Path, folder: JobFolder) -> None:
    """Move the upload into its folder, unless it is there already (same key: same bytes), so that
    its time, and the stamps of the frames made from it, stay those of the first POST."""
    if folder.upload.is_file():
        return
    folder.upload.parent.mkdir(parents=True, exist_ok=True)
    partial = folder.upload.with_name(f".{folder.name}.partial")
    shutil.move(str(temporary), partial)  # another file system than the temporary folder: a copy
    os.replace(partial, folder.upload)


def _wanted(info: zipfile.ZipInfo) -> bool:
    name = info.filename.replace("\\", "/")
    base = name.rsplit("/", 1)[-1]
    hidden = base.startswith(".") or "__MACOSX/" in name
    return not info.is_dir() and not hidden and Path(base).suffix.lower() in FRAME_SUFFIXES


def _members(archive: zipfile.ZipFile, label: str, max_bytes: int) -> dict[str, zipfile.ZipInfo]:
    """The frames of the zip by their file name (folders in the zip dropped: one sequence, one folder)."""
    members: dict[str, zipfile.ZipInfo] = {}
    for info in filter(_wanted, archive.infolist()):
        base = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
        if base in members:
            raise DepthError(f"two frames named {base} in the zip: one sequence needs one file per frame", label)
        members[base] = info
    if not members:
        raise DepthError(f"no frames in the zip (a sequence is {', '.join(FRAME_SUFFIXES)} files)", label)
    unpacked = sum(info.file_size for info in members.values())
    if unpacked > max_bytes:
        raise ImageTooLarge(f"the zip's frames unpack to {unpacked / (1 << 20):.0f} MiB, more than this server "
                            f"takes ({max_bytes / (1 << 20):.0f} MiB)", label)
    return members


def unpack_frames(folder: JobFolder, label: str, max_bytes: int) -> None:
    """The zip's frames into `frames/`, once (the marker is written last); DepthError for a damaged
    zip, one without frames, or one whose frames unpack to more than `max_bytes`."""
    marker = folder.frames / MARKER
    if marker.is_file():
        return
    try:
        with zipfile.ZipFile(folder.upload) as archive:
            members = _members(archive, label, max_bytes)
            folder.frames.mkdir(parents=True, exist_ok=True)
            for name, info in members.items():
                if info.flag_bits & 0x1:
                    raise DepthError(f"{name} in the zip is encrypted: send the frames without a password", label)
                partial = folder.frames / f".{name}.partial"
                with archive.open(info) as source, partial.open("wb") as target:
                    shutil.copyfileobj(source, target, CHUNK)
                os.replace(partial, folder.frames / name)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError) as exc:
        # NotImplementedError: a compression zipfile lacks; ValueError: a name with a NUL in it
        raise DepthError(f"cannot unpack the zip ({_first_line(exc)})", label) from None
    write_bytes_atomic(marker, json.dumps({"frames": sorted(members)}).encode())


def list_zip_frames(folder: JobFolder, label: str) -> tuple[FrameList, bool]:
    """The unpacked frames in natural order, and True for images; DepthError for EXR and images mixed."""
    listing = expand_frames([folder.frames], FRAME_SUFFIXES)
    return listing, frames_are_images(listing, label)


def frames_are_images(listing: FrameList, label: str) -> bool:
    kinds = {f.path.suffix.lower() == EXR_SUFFIX for f in listing.frames}
    if len(kinds) > 1:
        raise DepthError("a sequence is EXR renders or images, not both", label)
    return kinds == {False}


def probe_video(path: Path, label: str) -> None:
    """A file that is not a zip must be a video PyAV opens with a video stream (decoded later, in the job)."""
    from ..depth.dependencies import require

    av = require("av", "reading video files")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DepthError("no video stream in this file", label)
    except av.error.FFmpegError as exc:  # its text names the server's file: FFmpeg's reason alone
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise DepthError(f"neither a zip of frames nor a video file ({reason})", label) from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
