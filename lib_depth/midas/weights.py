"""Finding, verifying and downloading the MiDaS DPT-hybrid weights; no torch here.

Users of ControlNet, Forge or the Hugging Face tools usually have the 470 MiB file already, so it
is looked for where those keep it before anything is downloaded. The published file's name carries
the first 8 hex digits of its sha256: a found or downloaded file is verified against them (a few KiB
of corruption load silently otherwise), and a good verification is remembered by (path, size,
mtime) so that it is not repeated (~1 s) at every start. The hashing, the state file, the verified
download and the Hugging Face / WebUI folders are every network's (`network_base.weights`, whose
names are re-exported here); what is MiDaS's is its file name, its folders and its messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..network_base import weights as base
from ..network_base.weights import (
    EXTENSION_ROOT,
    Place,
    ProgressFn,
    TextProgress,
    WeightsError,
    cache_dir,
    file_sha256,
    hf_hub_cache,
    hf_snapshot_files,
    read_state,
    remember_verified,
    sha256_file,
    update_state,
    webui_places,
)
from ..network_base.weights import download as download_verified
from ..network_base.weights import hashed as _hashed  # noqa: F401 (the same dict: tests clear it)
from . import hf_folder

__all__ = ["EXTENSION_MODELS_DIR", "EXTENSION_ROOT", "HF_FILES", "WEIGHTS_MIB", "WEIGHTS_NAME", "Place", "ProgressFn",
           "ResolvedWeights", "TextProgress", "WeightsError", "cache_dir", "candidates", "default_download_url",
           "download", "expected_sha256_prefix", "explicit_file", "file_sha256", "hf_cached_files", "hf_hub_cache",
           "hf_snapshot_files", "not_found_message", "read_state", "resolve", "search_places",
           "searched_description", "sha256_file", "update_state", "verify", "webui_places"]


WEIGHTS_NAME = "dpt_hybrid-midas-501f0c75.pt"
#: Size of the published file, for telling a truncated download apart from a wrong file.
WEIGHTS_MIB = 470
#: (repository, file in it) on the Hugging Face hub, in the order their caches are searched.
HF_FILES = (("lllyasviel/Annotators", WEIGHTS_NAME), ("lllyasviel/ControlNet", f"annotator/ckpts/{WEIGHTS_NAME}"))
#: The extension's own folder: `<extension>/models/midas/` (git ignores `models/`); downloads go there.
EXTENSION_MODELS_DIR = EXTENSION_ROOT / "models" / "midas"


def __getattr__(name: str) -> object:
    """`hash_count` is the shared counter's current value (the base module's, which hashes)."""
    if name == "hash_count":
        return base.hash_count
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def expected_sha256_prefix(name: str) -> str | None:
    """`dpt_hybrid-midas-501f0c75.pt` -> `501f0c75` (None when the name carries no hash)."""
    tail = Path(name).stem.rsplit("-", 1)[-1].lower()
    return tail if len(tail) >= 8 and all(c in "0123456789abcdef" for c in tail) else None


def default_download_url(name: str = WEIGHTS_NAME) -> str:
    """The Annotators repository's copy; `HF_ENDPOINT` (a mirror) is honoured like huggingface_hub does."""
    return base.hf_url(HF_FILES[0][0], name)


# --------------------------------------------------------------------------------------------
# where to look


def hf_cached_files(cache: Path | None = None) -> list[Path]:
    """Copies of the weights in the Hugging Face cache: the `main` snapshot first, then any other."""
    return hf_snapshot_files(HF_FILES, cache)


def search_places(search_dirs: Iterable[str | Path] = (), models_dir: str | Path | None = None) -> list[Place]:
    """Every folder searched, in priority order (the explicit path is handled apart: it is trusted)."""
    own = Path(models_dir).expanduser() if models_dir else EXTENSION_MODELS_DIR
    places = [Place(own, "this extension's models folder")]
    places += [Place(Path(d).expanduser(), "configured folder") for d in search_dirs]
    places += webui_places()
    seen: set[Path] = set()
    unique = []
    for place in places:
        if place.folder not in seen:
            seen.add(place.folder)
            unique.append(place)
    return unique


def _files(place: Place) -> tuple[Path, ...]:
    """The weights in a folder: the file itself or `midas/<file>`."""
    return place.files(WEIGHTS_NAME, "midas")


def explicit_file(weights: str | Path) -> Path | None:
    """An explicit file, or the weights inside an explicit folder (or its `midas/`); None if absent."""
    path = Path(weights).expanduser()
    if path.is_dir():  # lllyasviel's file, else transformers' folder of the same network (hf_folder)
        return next((f for f in _files(Place(path, "given")) if f.is_file()), None) or hf_folder.folder_weights(path)
    return path if path.is_file() else None


def candidates(search_dirs: Iterable[str | Path] = (), models_dir: str | Path | None = None) -> list[Path]:
    """Existing copies of the weights in search order (not yet verified)."""
    found = [f for place in search_places(search_dirs, models_dir) for f in _files(place) if f.is_file()]
    found += hf_cached_files() + hf_snapshot_files(hf_folder.CACHED)  # then Intel/dpt-hybrid-midas
    unique: list[Path] = []
    for path in found:
        if path not in unique:
            unique.append(path)
    return unique


def searched_description(search_dirs: Iterable[str | Path] = (), models_dir: str | Path | None = None) -> str:
    folders = [str(p.folder) for p in search_places(search_dirs, models_dir)]
    folders.append(f"{hf_hub_cache()} ({', '.join(repo for repo, _ in HF_FILES)} and {hf_folder.REPO})")
    return ", ".join(folders)


# --------------------------------------------------------------------------------------------
# verification


def verify(path: Path, prefix: str | None = None) -> str | None:
    """None when `path`'s sha256 starts with `prefix` (default: the one in its name), else why not.

    Only successes are written to disk: a failure must be re-checked once the user replaces the file.
    """
    prefix = prefix or expected_sha256_prefix(path.name)
    if prefix is None:
        return None
    try:
        digest = file_sha256(path)
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})"
    if digest.startswith(prefix):
        remember_verified(path, digest)
        return None
    return (
        f"its sha256 is {digest[:8]}..., not {prefix}... as its name says: the file is damaged "
        f"or is not the published {path.name}; it was not loaded. Delete or replace it"
        + (f" (it is only {path.stat().st_size / 2**20:.1f} MiB, the published file is about {WEIGHTS_MIB} MiB)"
           if path.stat().st_size < 0.9 * WEIGHTS_MIB * 2**20 else "")
    )


# --------------------------------------------------------------------------------------------
# download


def download(url: str, folder: Path, name: str = WEIGHTS_NAME, progress: ProgressFn | None = None,
             timeout: float = 30.0) -> Path:
    """Download `url` to `folder/name` through a temporary name, verifying the sha256 in `name`.

    A failed or mismatching download leaves nothing behind; the file appears only when complete.
    """
    prefix = expected_sha256_prefix(name)
    return download_verified(url, folder, name, sha256=prefix, expected=f"{prefix}... as its name says",
                             what="the MiDaS weights", progress=progress, timeout=timeout)


# --------------------------------------------------------------------------------------------
# the decision


@dataclass(frozen=True)
class ResolvedWeights:
    path: Path
    verified: bool  # False for a file the user named explicitly (trusted, not hashed)


def resolve(
    weights: str | Path | None = None,
    search_dirs: Iterable[str | Path] = (),
    allow_download: bool = False,
    models_dir: str | Path | None = None,
    download_url: str | None = None,
    progress: ProgressFn | None = None,
) -> ResolvedWeights:
    """The weights to load: the explicit file (trusted), else the first found copy whose hash
    matches, else a verified download (when allowed). Raises WeightsError saying what to do.
    """
    if weights:
        path = explicit_file(weights)
        if path is None:
            where = Path(weights).expanduser()
            what = f"folder you named has no {WEIGHTS_NAME}" if where.is_dir() else "file you named does not exist"
            raise WeightsError(f"the MiDaS weights {what}", where)
        return ResolvedWeights(path, verified=False)
    search_dirs = tuple(search_dirs)
    refused: list[str] = []
    for path in candidates(search_dirs, models_dir):
        problem = verify(path)
        if problem is None:
            return ResolvedWeights(path, verified=True)
        refused.append(f"{path}: {problem}")
    own = Path(models_dir).expanduser() if models_dir else EXTENSION_MODELS_DIR
    url = download_url or default_download_url()
    download_problem = ""
    if allow_download:
        try:
            return ResolvedWeights(download(url, own, WEIGHTS_NAME, progress), verified=True)
        except WeightsError as exc:
            download_problem = f"; {exc}"
    if refused:
        raise WeightsError("; ".join(refused) + download_problem)
    raise WeightsError(not_found_message(search_dirs, models_dir, allow_download, download_url, download_problem))


def not_found_message(search_dirs: Iterable[str | Path] = (), models_dir: str | Path | None = None,
                      allow_download: bool = False, download_url: str | None = None, download_problem: str = "") -> str:
    """What `resolve` says when no copy exists: every place searched and how to get the file (also
    what the tab shows beside the model choice before anything is run)."""
    own = Path(models_dir).expanduser() if models_dir else EXTENSION_MODELS_DIR
    url = download_url or default_download_url()
    how = "" if allow_download else ", or allow downloading it"
    return (f"MiDaS weights {WEIGHTS_NAME} not found (searched {searched_description(search_dirs, models_dir)})"
            f"{download_problem}; download {url} ({WEIGHTS_MIB} MiB) into {own}, or name the file "
            f"explicitly (--weights PATH){how}")
