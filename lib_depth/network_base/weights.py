"""What every network's weights handling shares; no torch here.

- `WeightsError`, `ProgressFn`: one error type for every model's weights, one progress callback.
- The small state file (`cache_dir()/state.json`): remembered verifications and CPU precision probes.
- sha256 of a file, remembered by (path, size, mtime) in this process and in the state file, so a
  470 MiB file is not hashed again (~1 s) at every start.
- `download`: a file fetched through a temporary name, appearing only complete and with the expected
  sha256 (a failed or mismatching download leaves nothing behind).
- Where users already keep weights: the Hugging Face cache (`hf_snapshot_files`), ControlNet's and
  Forge's folders of the WebUI this extension sits in (`webui_places`).

Each network says which names, folders and hashes are its own (`midas.weights`, `anything.weights`).
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
from typing import Any, BinaryIO, TextIO

from ..depth.errors import DepthError
from ..depth.png import write_bytes_atomic

#: The extension's own folder; each network downloads into `<extension>/models/<its folder>/`.
EXTENSION_ROOT = Path(__file__).resolve().parents[2]

#: progress(bytes_done, bytes_total or None)
ProgressFn = Callable[[int, "int | None"], None]


class WeightsError(DepthError):
    """Missing or unusable weights; the message says where it looked and what to do."""


# --------------------------------------------------------------------------------------------
# where users keep weights


@dataclass(frozen=True)
class Place:
    """A folder searched for weights (the file itself or `<subfolder>/<file>` inside it)."""

    folder: Path
    origin: str

    def files(self, name: str, subfolder: str) -> tuple[Path, ...]:
        return (self.folder / name, self.folder / subfolder / name)


def hf_hub_cache() -> Path:
    """huggingface_hub's cache folder, computed the way it does (without importing it)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return cache / "huggingface" / "hub"


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


# --------------------------------------------------------------------------------------------
# the state file and remembered hashes


def cache_dir() -> Path:
    """Where small state (remembered verifications, the CPU precision choice) is kept."""
    if os.environ.get("DEPTH_TOOLS_CACHE"):
        return Path(os.environ["DEPTH_TOOLS_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.environ.get("LOCALAPPDATA") or Path.home() / ".cache"
    return Path(base).expanduser() / "depth-tools"


_state_lock = threading.Lock()
#: Files hashed in this process: (path, size, mtime_ns) -> sha256 hex. Bad ones too, so that a
#: damaged copy is not re-hashed for every image of a batch.
hashed: dict[tuple[str, int, int], str] = {}
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


def file_identity(path: Path) -> tuple[str, int, int]:
    """(resolved path, size, mtime_ns): what a remembered hash is keyed by."""
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def file_sha256(path: Path) -> str:
    """sha256 of `path`, remembered (in this process and on disk) by path, size and mtime."""
    key = file_identity(path)
    if key in hashed:
        return hashed[key]
    remembered = read_state().get("verified", {}).get(key[0])
    if isinstance(remembered, dict) and [remembered.get("size"), remembered.get("mtime_ns")] == list(key[1:]):
        hashed[key] = str(remembered.get("sha256", ""))
        return hashed[key]
    digest = hashed[key] = sha256_file(path)
    return digest


def remember_verified(path: Path, digest: str) -> None:
    """Write a good verification to disk (only successes: a failure is checked again once replaced)."""
    key = file_identity(path)
    hashed[key] = digest
    update_state("verified", key[0], {"size": key[1], "mtime_ns": key[2], "sha256": digest})


def check_published(path: Path, expected: str) -> str | None:
    """Why a found file of a published name may not be loaded (None: its sha256 is `expected`, now
    remembered). Both models whose small file has a known digest (Depth Anything V2, Video Depth
    Anything) check their found copies so: corruption would otherwise load silently."""
    try:
        digest = file_sha256(path)
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})"
    if digest != expected:
        return (f"its sha256 is {digest[:8]}..., not {expected[:8]}... of the published {path.name}: the file is "
                f"damaged or another conversion, and was not loaded; replace it, or name it explicitly (--weights) "
                f"if it is your own")
    remember_verified(path, digest)
    return None


def hf_url(repo: str, name: str) -> str:
    """`name` of the Hugging Face repository `repo`; `HF_ENDPOINT` (a mirror) honoured as huggingface_hub does."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    return f"{endpoint}/{repo}/resolve/main/{name}"


# --------------------------------------------------------------------------------------------
# download


class TextProgress:
    """Default download progress: a rewritten line on a terminal, one line per 10% in a log."""

    def __init__(self, name: str, stream: TextIO | None = None) -> None:
        self.name = name
        self.stream = stream or sys.stderr
        self.shown = -1

    def __call__(self, done: int, total: int | None) -> None:
        text = f"downloading {self.name}: {done / 2**20:.0f}" + (f"/{total / 2**20:.0f} MiB" if total else " MiB")
        if self.stream.isatty():
            self.stream.write("\r" + text + ("\n" if total and done >= total else ""))
        else:
            step = done * 10 // total if total else done >> 26  # every 10%, or every 64 MiB
            if step == self.shown:
                return
            self.shown = step
            self.stream.write(text + "\n")
        self.stream.flush()


def _fetch(url: str, out: BinaryIO, digest: Any, progress: ProgressFn, timeout: float) -> None:
    """The response's bytes into `out` and `digest`; a response shorter than it announced is an error."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        done = 0
        while chunk := response.read(1 << 20):
            out.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            progress(done, total)
    if total is not None and done != total:
        raise WeightsError(f"the download from {url} stopped after {done} of {total} bytes; try again")


def download(url: str, folder: Path, name: str, *, sha256: str | None, expected: str, what: str,
             progress: ProgressFn | None = None, timeout: float = 30.0) -> Path:
    """Download `url` to `folder/name` through a temporary name; it appears only complete and with a
    sha256 starting with `sha256` (a prefix or the whole digest; None: not checked), and is
    remembered as verified. `expected` says in the mismatch message what was expected ("501f0c75...
    as its name says"), `what` what was downloaded ("the MiDaS weights")."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
    except OSError as exc:
        raise WeightsError(f"cannot write to {folder} to download {what} ({exc.strerror or exc})") from None
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            _fetch(url, out, digest, progress or TextProgress(name), timeout)
        if sha256 and not digest.hexdigest().startswith(sha256):
            raise WeightsError(f"the file downloaded from {url} has sha256 {digest.hexdigest()[:8]}..., not "
                               f"{expected}; it was deleted, not loaded")
        final = folder / name
        os.replace(tmp, final)
    except (urllib.error.URLError, OSError) as exc:
        plain = isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError)
        reason = exc.reason if plain else (exc.strerror or exc)
        raise WeightsError(f"downloading {what} from {url} failed ({reason})") from None
    finally:
        tmp.unlink(missing_ok=True)
    remember_verified(final, digest.hexdigest())
    return final
