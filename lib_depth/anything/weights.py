"""Finding, verifying and (for ViT-S only) downloading the Depth Anything V2 weights; no torch here.

Users of ControlNet and Forge already have `depth_anything_v2_vitl.safetensors` (their preprocessor
downloads it into `<annotator downloads>/depth_anything_v2/`, Forge's into
`models/ControlNetPreprocessor/depth_anything_v2/`), others the official `.pth` from Hugging Face: the
files are looked for where those keep them, in the same places as the MiDaS weights. Files whose
name has one published copy are checked against its sha256 (corruption loads silently otherwise);
the verification is remembered as every network's (`network_base.weights`, which also downloads).
Only ViT-S (Apache-2.0) is ever downloaded: ViT-B and ViT-L are CC-BY-NC-4.0, used when found, never
fetched by us.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..network_base.weights import (
    EXTENSION_ROOT,
    ProgressFn,
    WeightsError,
    check_published,
    download,
    hf_hub_cache,
    hf_snapshot_files,
    hf_url,
    webui_places,
)

#: sizes in the order they are preferred when none is asked for: the best one found
ENCODERS = ("vitl", "vitb", "vits")
SUBFOLDER = "depth_anything_v2"  # ControlNet's and Forge's folder inside their preprocessor folders
EXTENSION_MODELS_DIR = EXTENSION_ROOT / "models" / SUBFOLDER

#: The one file we download: the reference's ViT-S, Apache-2.0 (Git LFS oid of commit 65ae6e3, kept
#: through the later renames of depth-anything/Depth-Anything-V2-Small).
SMALL_NAME = "depth_anything_v2_vits.pth"
SMALL_REPO = "depth-anything/Depth-Anything-V2-Small"
SMALL_SHA256 = "715fade13be8f229f8a70cc02066f656f2423a59effd0579197bbf57860e1378"
SMALL_BYTES = 99_218_434

#: sha256 of the one published file of each name (Git LFS oids on Hugging Face). None: the public
#: metadata read did not give it with certainty, so such a file is loaded (safely) without a hash check.
PUBLISHED_SHA256: dict[str, str | None] = {
    SMALL_NAME: SMALL_SHA256,
    "depth_anything_v2_vitb.pth": "0d2b7002e62d39d655571c371333340bd88f67ab95050c03591555aa05645328",
    "depth_anything_v2_vitl.pth": None,  # depth-anything/Depth-Anything-V2-Large: oid not confirmed
    # MackinationsAi/Depth-Anything-V2_Safetensors (fp16); ControlNet and Forge download the vitl one
    "depth_anything_v2_vits.safetensors": "a7c1a8c8cdd7885fb8391069cd1eee789126c8d896f7de6750499b1097f817ea",
    "depth_anything_v2_vitb.safetensors": "386758cbd2a2cac62ca62286d3ba810734561b3097d86a585dd3dac357153941",
    "depth_anything_v2_vitl.safetensors": "f075a9099f94bae54a5bfe21a1423346429309bae40abb85b9935985b1f35a09",
}
_HF_REPOS = {"vits": "Small", "vitb": "Base", "vitl": "Large"}


def file_names(encoder: str) -> tuple[str, str]:
    """The names a size's weights go by: the official `.pth`, ControlNet's `.safetensors`."""
    return f"depth_anything_v2_{encoder}.pth", f"depth_anything_v2_{encoder}.safetensors"


def wanted_names(encoder: str | None) -> list[str]:
    """File names to look for, best size first (names only guide the search; the size is read from the file)."""
    return [name for enc in ([encoder] if encoder else ENCODERS) for name in file_names(enc)]


def hf_files(encoder: str | None) -> list[tuple[str, str]]:
    """(repository, file) pairs whose Hugging Face cache copies are searched."""
    pairs = []
    for enc in [encoder] if encoder else ENCODERS:
        pth, safetensors = file_names(enc)
        pairs += [(f"depth-anything/Depth-Anything-V2-{_HF_REPOS[enc]}", pth),
                  ("MackinationsAi/Depth-Anything-V2_Safetensors", safetensors)]
    return pairs


def hf_cached_files(encoder: str | None = None, cache: Path | None = None) -> list[Path]:
    """Copies in the Hugging Face cache, `main` snapshot first (as MiDaS's search)."""
    return hf_snapshot_files(hf_files(encoder), cache)


def search_folders(search_dirs: Iterable[str | Path] = (), models_dir: str | Path | None = None) -> list[Path]:
    """Folders searched (each for the file and `depth_anything_v2/<file>`), in priority order."""
    folders = [Path(models_dir).expanduser() if models_dir else EXTENSION_MODELS_DIR]
    folders += [Path(d).expanduser() for d in search_dirs]
    folders += [place.folder for place in webui_places()]
    return list(dict.fromkeys(folders))


def files_in(folder: Path, encoder: str | None = None) -> list[Path]:
    return [f for name in wanted_names(encoder) for f in (folder / name, folder / SUBFOLDER / name) if f.is_file()]


def candidates(search_dirs: Iterable[str | Path] = (), models_dir: str | Path | None = None,
               encoder: str | None = None) -> list[Path]:
    """Existing weights, best size first, then in folder order (not yet verified)."""
    folders = search_folders(search_dirs, models_dir)
    found: list[Path] = []
    for enc in [encoder] if encoder else ENCODERS:
        found += [f for folder in folders for f in files_in(folder, enc)]
        found += hf_cached_files(enc)
    return list(dict.fromkeys(found))


def explicit_file(weights: str | Path, encoder: str | None = None) -> Path | None:
    """An explicit file, or the best weights inside an explicit folder; None if absent."""
    path = Path(weights).expanduser()
    if path.is_dir():
        return next(iter(files_in(path, encoder)), None)
    return path if path.is_file() else None


def verify(path: Path) -> tuple[bool, str | None]:
    """(hash checked, problem): a file named like a published one must have its sha256."""
    expected = PUBLISHED_SHA256.get(path.name)
    if expected is None:
        return False, None
    problem = check_published(path, expected)
    return problem is None, problem


@dataclass(frozen=True)
class ResolvedWeights:
    path: Path
    verified: bool  # True when its sha256 is the published one; explicit files are trusted, not hashed


def small_download_url() -> str:
    return hf_url(SMALL_REPO, SMALL_NAME)


def download_small(folder: Path, url: str | None = None, progress: ProgressFn | None = None,
                   timeout: float = 30.0) -> Path:
    """Download ViT-S into `folder` through a temporary name; it appears only with the published sha256."""
    return download(url or small_download_url(), folder, SMALL_NAME, sha256=SMALL_SHA256,
                    expected=f"the published {SMALL_SHA256[:8]}...", what=SMALL_NAME, progress=progress,
                    timeout=timeout)


def not_found(encoder: str | None, search_dirs: tuple[str, ...], models_dir: str | Path | None,
              allow_download: bool, download_problem: str = "") -> WeightsError:
    """What `resolve` raises when no copy exists: where it looked and how to get one (the tab shows
    it beside the model choice before anything is run)."""
    folders = ", ".join(str(f) for f in search_folders(search_dirs, models_dir))
    names = " or ".join(wanted_names(encoder))
    own = Path(models_dir).expanduser() if models_dir else EXTENSION_MODELS_DIR
    if encoder in (None, "vits"):
        how = "" if allow_download else ", or allow downloading it"
        fetch = f"download {small_download_url()} ({SMALL_BYTES / 2**20:.0f} MiB, Apache-2.0) into {own}{how}"
    else:
        fetch = (f"put the file there yourself from huggingface.co/depth-anything/Depth-Anything-V2-"
                 f"{_HF_REPOS[encoder]} (CC-BY-NC-4.0: never downloaded by Depth Tools)")
    return WeightsError(f"Depth Anything V2 weights not found (looked for {names} in {folders} and the Hugging "
                        f"Face cache {hf_hub_cache()}){download_problem}; {fetch}, or name the file explicitly "
                        f"(--weights PATH)")


def resolve(weights: str | Path | None = None, search_dirs: Iterable[str | Path] = (), allow_download: bool = False,
            models_dir: str | Path | None = None, download_url: str | None = None, encoder: str | None = None,
            progress: ProgressFn | None = None) -> ResolvedWeights:
    """The weights to load: the explicit file (trusted, not hashed), else the best size found whose hash
    is right (where one is published), else a verified ViT-S download when allowed (and no other size
    was asked for). Raises WeightsError saying what to do."""
    if weights:
        path = explicit_file(weights, encoder)
        if path is None:
            where = Path(weights).expanduser()
            what = (f"folder you named has no {' or '.join(wanted_names(encoder))}" if where.is_dir()
                    else "file you named does not exist")
            raise WeightsError(f"the Depth Anything V2 weights {what}", where)
        return ResolvedWeights(path, verified=False)
    search_dirs = tuple(str(d) for d in search_dirs)
    refused: list[str] = []
    for path in candidates(search_dirs, models_dir, encoder):
        checked, problem = verify(path)
        if problem is None:
            return ResolvedWeights(path, verified=checked)
        refused.append(f"{path}: {problem}")
    download_problem = ""
    if allow_download and encoder in (None, "vits"):
        own = Path(models_dir).expanduser() if models_dir else EXTENSION_MODELS_DIR
        try:
            return ResolvedWeights(download_small(own, download_url, progress), verified=True)
        except WeightsError as exc:
            download_problem = f"; {exc}"
    if refused:
        raise WeightsError("; ".join(refused) + download_problem)
    raise not_found(encoder, search_dirs, models_dir, allow_download, download_problem)
