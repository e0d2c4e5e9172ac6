"""Finding, verifying and downloading the MiDaS DPT-hybrid weights; no torch here.

Users of ControlNet, Forge or the Hugging Face tools usually have the 470 MiB file already, so it
is looked for where those keep it before anything is downloaded. The published file's name carries
the first 8 hex digits of its sha256: a found or downloaded file is verified against them (a few KiB
of corruption load silently otherwise), and a good verification is remembered by (path, size,
mtime) so that it is not repeated (~1 s) at every start.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ..depth.errors import DepthError
from ..depth.png import write_bytes_atomic
from . import hf_folder

WEIGHTS_NAME = "dpt_hybrid-midas-501f0c75.pt"
#: Size of the published file, for telling a truncated download apart from a wrong file.
WEIGHTS_MIB = 470
#: (repository, file in it) on the Hugging Face hub, in the order their caches are searched.
HF_FILES = (("lllyasviel/Annotators", WEIGHTS_NAME), ("lllyasviel/ControlNet", f"annotator/ckpts/{WEIGHTS_NAME}"))
#: The extension's own folder: `<extension>/models/midas/` (git ignores `models/`); downloads go there.
EXTENSION_ROOT = Path(__file__).resolve().parents[2]
EXTENSION_MODELS_DIR = EXTENSION_ROOT / "models" / "midas"

#: progress(bytes_done, bytes_total or None)
ProgressFn = Callable[[int, "int | None"], None]


class WeightsError(DepthError):
    """Missing or unusable weights; the message says where it looked and what to do."""


def expected_sha256_prefix(name: str) -> str | None:
    """`dpt_hybrid-midas-501f0c75.pt` -> `501f0c75` (None when the name carries no hash)."""
    tail = Path(name).stem.rsplit("-", 1)[-1].lower()
    return tail if len(tail) >= 8 and all(c in "0123456789abcdef" for c in tail) else None


def default_download_url(name: str = WEIGHTS_NAME) -> str:
    """The Annotators repository's copy; `HF_ENDPOINT` (a mirror) is honoured like huggingface_hub does."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    return f"{endpoint}/{HF_FILES[0][0]}/resolve/main/{name}"


# --------------------------------------------------------------------------------------------
# where to look


@dataclass(frozen=True)
class Place:
    """A folder searched for the weights (the file itself or `midas/<file>` inside it)."""

    folder: Path
    origin: str

    def files(self, name: str = WEIGHTS_NAME) -> tuple[Path, ...]:
        return (self.folder / name, self.folder / "midas" / name)


def hf_hub_cache() -> Path:
    """huggingface_hub's cache folder, computed the way it does (without importing it)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return cache / "huggingface" / "hub"


def hf_cached_files(cache: Path | None = None) -> list[Path]:
    """Copies of the weights in the Hugging Face cache: the `main` snapshot first, then any other."""
    return hf_snapshot_files(HF_FILES, cache)


def hf_snapshot_files(files: Iterable[tuple[str, str]], cache: Path | None = None) -> list[Path]:
    """Copies of (repository, file name) in the Hugging Face cache, each `main` snapshot first."""
    cache = hf_hub_cache() if cache is None else cache
    found: list[Path] = []
    for repo, filename in files:
        repo_dir = cache / f"models--{repo.replace('/', '--')}"
        snapshots = repo_dir / "snapshots"
        try:
            main = (repo_dir / "refs" / "main").read_text().strip()
        except OSError:
            main = ""
        names = sorted(p.name for p in snapshots.iterdir()) if snapshots.is_dir() else []
        for snapshot in sorted(names, key=lambda n: n != main):
            path = snapshots / snapshot / filename
            if path.is_file():
                found.append(path)
    return found


def webui_places(extension_root: Path = EXTENSION_ROOT) -> list[Place]:
    """ControlNet's and Forge's default folders, when this extension sits in a WebUI's `extensions/`.

    The host adapter passes the configured folders as `search_dirs`; these defaults also let the
    command line find the weights of a WebUI it is installed in.
    """
    if extension_root.parent.name != "extensions":
        return []
    webui = extension_root.parent.parent
    places = [
        Place(folder / "annotator" / "downloads", "ControlNet annotator folder")
        for folder in sorted(extension_root.parent.glob("*controlnet*"))
        if folder != extension_root
    ]
    places.append(Place(webui / "models" / "ControlNetPreprocessor", "Forge preprocessor folder"))
    return places


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


def explicit_file(weights: str | Path) -> Path | None:
    """An explicit file, or the weights inside an explicit folder (or its `midas/`); None if absent."""
    path = Path(weights).expanduser()
    if path.is_dir():  # lllyasviel's file, else transformers' folder of the same network (hf_folder)
        return next((f for f in Place(path, "given").files() if f.is_file()), None) or hf_folder.folder_weights(path)
    return path if path.is_file() else None


def candidates(search_dirs: Iterable[str | Path] = (), models_dir: str | Path | None = None) -> list[Path]:
    """Existing copies of the weights in search order (not yet verified)."""
    found = [f for place in search_places(search_dirs, models_dir) for f in place.files() if f.is_file()]
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


def cache_dir() -> Path:
    """Where small state (remembered verifications, the CPU precision choice) is kept."""
    if os.environ.get("DEPTH_TOOLS_CACHE"):
        return Path(os.environ["DEPTH_TOOLS_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.environ.get("LOCALAPPDATA") or Path.home() / ".cache"
    return Path(base).expanduser() / "depth-tools"


_state_lock = threading.Lock()
#: Files hashed in this process: (path, size, mtime_ns) -> sha256 hex. Bad ones too, so that a
#: damaged copy is not re-hashed for every image of a batch.
_hashed: dict[tuple[str, int, int], str] = {}
#: How many files were hashed (tests use it to see that a verification was remembered).
hash_count = 0


def read_state() -> dict:
    try:
        return json.loads((cache_dir() / "state.json").read_text())
    except (OSError, ValueError):
        return {}


def update_state(section: str, key: str, value: object) -> None:
    """Merge one entry into the state file; failures are ignored (a read-only home is fine)."""
    with _state_lock:
        state = read_state()
        entries = state.get(section)
        if not isinstance(entries, dict):
            entries = state[section] = {}
        entries[key] = value
        try:
            cache_dir().mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(cache_dir() / "state.json", json.dumps(state, indent=1).encode())
        except OSError:
            pass


def sha256_file(path: Path) -> str:
    global hash_count
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    hash_count += 1
    return digest.hexdigest()


def _identity(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def file_sha256(path: Path) -> str:
    """sha256 of `path`, remembered (in this process and on disk) by path, size and mtime."""
    key = _identity(path)
    if key in _hashed:
        return _hashed[key]
    remembered = read_state().get("verified", {}).get(key[0])
    if isinstance(remembered, dict) and [remembered.get("size"), remembered.get("mtime_ns")] == list(key[1:]):
        _hashed[key] = str(remembered.get("sha256", ""))
        return _hashed[key]
    digest = _hashed[key] = sha256_file(path)
    return digest


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
        key = _identity(path)
        update_state("verified", key[0], {"size": key[1], "mtime_ns": key[2], "sha256": digest})
        return None
    return (
        f"its sha256 is {digest[:8]}..., not {prefix}... as its name says: the file is damaged "
        f"or is not the published {path.name}; it was not loaded. Delete or replace it"
        + (f" (it is only {path.stat().st_size / 2**20:.1f} MiB, the published file is about {WEIGHTS_MIB} MiB)"
           if path.stat().st_size < 0.9 * WEIGHTS_MIB * 2**20 else "")
    )


# --------------------------------------------------------------------------------------------
# download


class TextProgress:
    """Default download progress: a rewritten line on a terminal, one line per 10% in a log."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.shown = -1

    def __call__(self, done: int, total: int | None) -> None:
        text = f"downloading {WEIGHTS_NAME}: {done / 2**20:.0f}" + (f"/{total / 2**20:.0f} MiB" if total else " MiB")
        if self.stream.isatty():
            self.stream.write("\r" + text + ("\n" if total and done >= total else ""))
        else:
            step = done * 10 // total if total else done >> 26  # every 10%, or every 64 MiB
            if step == self.shown:
                return
            self.shown = step
            self.stream.write(text + "\n")
        self.stream.flush()


def download(url: str, folder: Path, name: str = WEIGHTS_NAME, progress: ProgressFn | None = None,
             timeout: float = 30.0) -> Path:
    """Download `url` to `folder/name` through a temporary name, verifying the sha256 in `name`.

    A failed or mismatching download leaves nothing behind; the file appears only when complete.
    """
    prefix = expected_sha256_prefix(name)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
    except OSError as exc:
        raise WeightsError(f"cannot write to {folder} to download the MiDaS weights ({exc.strerror or exc})") from None
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    progress = progress or TextProgress()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            done = 0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                progress(done, total)
        if total is not None and done != total:
            raise WeightsError(f"the download from {url} stopped after {done} of {total} bytes; try again")
        if prefix and not digest.hexdigest().startswith(prefix):
            raise WeightsError(
                f"the file downloaded from {url} has sha256 {digest.hexdigest()[:8]}..., not {prefix}... "
                "as its name says; it was deleted, not loaded"
            )
        final = folder / name
        os.replace(tmp, final)
    except (urllib.error.URLError, OSError) as exc:
        plain = isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError)
        reason = exc.reason if plain else (exc.strerror or exc)
        raise WeightsError(f"downloading the MiDaS weights from {url} failed ({reason})") from None
    finally:
        tmp.unlink(missing_ok=True)
    key = _identity(final)
    _hashed[key] = digest.hexdigest()
    update_state("verified", key[0], {"size": key[1], "mtime_ns": key[2], "sha256": digest.hexdigest()})
    return final


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
