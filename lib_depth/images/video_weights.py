"""Video Depth Anything's weights: found where users keep them, the published Small verified, and
only Small downloaded (when allowed); no torch here.

Names: `video_depth_anything_vit{l,b,s}.pth` (or `metric_...`), looked for in the weights folder you
name, `models/video_depth_anything/` of this extension (downloads go there), and the extra folders
(each also in a `video_depth_anything/` subfolder), best size first; the size and licence are then
read from the tensors. Small is Apache-2.0; Base and Large are CC-BY-NC-4.0: used when found, never
fetched by us.

Small's sha256 is the Git LFS oid of depth-anything/Video-Depth-Anything-Small's file (116,440,756
bytes): the same digest in every independent record of a download of it we could read (installers
and manifests that pin it; one of them also pins Depth Anything V2 Small as 715fade1..., the digest
`anything.weights` checks). A found file of that name must have it (as Depth Anything V2's), so a
damaged copy is refused with one line instead of loading silently; a file you name is trusted.
"""

from __future__ import annotations

from pathlib import Path

from ..network_base.settings import NetworkSettings
from ..network_base.weights import EXTENSION_ROOT, WeightsError, check_published, download, hf_url

SUBFOLDER = "video_depth_anything"
EXTENSION_MODELS_DIR = EXTENSION_ROOT / "models" / SUBFOLDER
ENCODERS = ("vitl", "vitb", "vits")
SMALL_NAME = "video_depth_anything_vits.pth"
SMALL_REPO = "depth-anything/Video-Depth-Anything-Small"
SMALL_SHA256 = "13379300b739e659f076a59d52e9801bd8d38c541a7e71f73bbca4dcfb013609"
SMALL_BYTES = 116_440_756
#: sha256 of the one published file of each name we could confirm; other names load without a hash check.
PUBLISHED_SHA256 = {SMALL_NAME: SMALL_SHA256}


def file_names() -> list[str]:
    """Names looked for, best size first (the size and licence are then read from the tensors)."""
    return [f"{prefix}video_depth_anything_{enc}.pth" for enc in ENCODERS for prefix in ("", "metric_")]


def search_folders(settings: NetworkSettings) -> list[Path]:
    folders = [Path(settings.models_dir).expanduser() if settings.models_dir else EXTENSION_MODELS_DIR]
    folders += [Path(d).expanduser() for d in settings.search_dirs]
    return list(dict.fromkeys(folders))


def _files_in(folder: Path) -> list[Path]:
    return [f for name in file_names() for f in (folder / name, folder / SUBFOLDER / name) if f.is_file()]


def _named(settings: NetworkSettings) -> Path | None:
    named = Path(settings.weights).expanduser()  # type: ignore[arg-type]  # only called with weights set
    return next(iter(_files_in(named)), None) if named.is_dir() else (named if named.is_file() else None)


def candidates(settings: NetworkSettings) -> list[Path]:
    """Found copies, best size first, then in folder order (not yet verified)."""
    found = [f for folder in search_folders(settings) for f in _files_in(folder)]
    return sorted(dict.fromkeys(found), key=lambda f: file_names().index(f.name))


def find_weights(settings: NetworkSettings) -> Path | None:
    """The file that would be loaded, without hashing it: the named file (or the best one in the named
    folder), else the best one found; None when there is none."""
    if settings.weights:
        return _named(settings)
    return next(iter(candidates(settings)), None)


def verify(path: Path) -> str | None:
    """Why a found file may not be loaded (None: it may): a published name with another sha256."""
    expected = PUBLISHED_SHA256.get(path.name)
    return None if expected is None else check_published(path, expected)


def small_download_url() -> str:
    return hf_url(SMALL_REPO, SMALL_NAME)


def resolve(settings: NetworkSettings, progress: object = None) -> Path:
    """The file to load: the one named (trusted), else the best found that verifies, else Small
    downloaded (when allowed) into the first folder. WeightsError says where it looked and what to do."""
    if settings.weights:
        path = _named(settings)
        if path is None:
            raise WeightsError("the Video Depth Anything weights you named do not exist", Path(settings.weights))
        return path
    refused = []
    for path in candidates(settings):
        problem = verify(path)
        if problem is None:
            return path
        refused.append(f"{path}: {problem}")
    problem = "; ".join(refused)
    if settings.allow_download:
        try:
            return download(settings.download_url or small_download_url(), search_folders(settings)[0], SMALL_NAME,
                            sha256=SMALL_SHA256, expected=f"the published {SMALL_SHA256[:8]}...", what=SMALL_NAME,
                            progress=progress)  # type: ignore[arg-type]  # a ProgressFn or None
        except WeightsError as exc:
            problem = "; ".join(filter(None, (problem, str(exc))))
    raise WeightsError(not_found(settings) + (f" ({problem})" if problem else ""))


def not_found(settings: NetworkSettings) -> str:
    folders = ", ".join(str(f) for f in search_folders(settings))
    fetch = ("" if settings.allow_download else
             f", or allow downloading Small ({SMALL_BYTES / 2**20:.0f} MiB, Apache-2.0: --download, or the WebUI's "
             f"download setting)")
    return (f"Video Depth Anything weights not found (looked for {SMALL_NAME}, _vitb, _vitl in {folders}); put "
            f"{SMALL_NAME} from huggingface.co/{SMALL_REPO} (Apache-2.0) or the Large file from "
            f"huggingface.co/depth-anything/Video-Depth-Anything-Large (CC-BY-NC-4.0: never downloaded by Depth "
            f"Tools) into {search_folders(settings)[0]}, or name the file (--weights PATH){fetch}")
