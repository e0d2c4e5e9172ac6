"""Finding, verifying and downloading the MiDaS weights (no network: a local HTTP server)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lib_depth import midas
from lib_depth.depth.errors import DepthError
from lib_depth.midas import WEIGHTS_NAME, MidasSettings, WeightsError, find_weights
from lib_depth.midas import weights as midas_weights
from lib_depth.midas.weights import download, resolve, verify


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, midas_cache: Path) -> dict[str, Path]:
    """Empty folders for every place searched, the Hugging Face cache included."""
    names = ("explicit", "models", "search1", "search2", "hf")
    folders = {name: tmp_path / name for name in names}
    for folder in folders.values():
        folder.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(folders["hf"]))
    return folders


def settings_for(places: dict[str, Path], **kwargs: object) -> MidasSettings:
    return MidasSettings(
        search_dirs=(str(places["search1"]), str(places["search2"])), models_dir=str(places["models"]), **kwargs
    )


def put(path: Path, data: bytes = b"not really weights") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def hf_snapshot(hf: Path, repo: str, filename: str, revision: str = "abc123", main: bool = True) -> Path:
    repo_dir = hf / f"models--{repo.replace('/', '--')}"
    if main:
        put(repo_dir / "refs" / "main", revision.encode())
    return put(repo_dir / "snapshots" / revision / filename)


def test_discovery_order(places: dict[str, Path]) -> None:
    """Explicit, then the extension's folder, the host's folders in order, then the HF cache."""
    hf_cn = hf_snapshot(places["hf"], "lllyasviel/ControlNet", f"annotator/ckpts/{WEIGHTS_NAME}")
    hf_other = hf_snapshot(places["hf"], "lllyasviel/Annotators", WEIGHTS_NAME, "old", main=False)
    hf_main = hf_snapshot(places["hf"], "lllyasviel/Annotators", WEIGHTS_NAME, "zzz")
    search2 = put(places["search2"] / "midas" / WEIGHTS_NAME)  # ControlNet's layout: <annotator path>/midas/
    search1 = put(places["search1"] / WEIGHTS_NAME)
    models = put(places["models"] / WEIGHTS_NAME)
    explicit = put(places["explicit"] / "my-midas.pt")

    assert find_weights(settings_for(places, weights=str(explicit))) == explicit
    assert find_weights(settings_for(places, weights=str(places["models"]))) == models  # a folder works too
    order = [models, search1, search2, hf_main, hf_other, hf_cn]
    for expected in order:
        assert find_weights(settings_for(places)) == expected
        expected.unlink()
    assert find_weights(settings_for(places)) is None
    assert midas_weights.candidates((), places["models"]) == []


def test_explicit_path_that_does_not_exist(places: dict[str, Path]) -> None:
    missing = places["explicit"] / "nothere.pt"
    with pytest.raises(WeightsError, match="file you named does not exist") as err:
        resolve(missing)
    assert err.value.path == str(missing)
    with pytest.raises(WeightsError, match=f"folder you named has no {WEIGHTS_NAME}"):
        resolve(places["explicit"])


def test_no_weights_names_every_folder_searched(places: dict[str, Path]) -> None:
    settings = settings_for(places)
    with pytest.raises(WeightsError) as err:
        resolve(settings.weights, settings.search_dirs, models_dir=settings.models_dir)
    message = str(err.value)
    assert "not found" in message
    for name in ("models", "search1", "search2", "hf"):
        assert str(places[name]) in message
    assert midas_weights.default_download_url() in message  # where to get it ...
    assert f"into {places['models']}" in message  # ... and where to put it
    assert "--weights" in message and "allow downloading" in message


def test_found_copy_with_wrong_hash_is_refused(places: dict[str, Path], midas_checkpoint: Path) -> None:
    """The random checkpoint is a perfectly loadable file: only the sha256 check keeps it out."""
    found = places["search1"] / WEIGHTS_NAME
    os.symlink(midas_checkpoint, found)
    loads = midas.load_count()
    with pytest.raises(WeightsError) as err:
        midas.MidasEstimator.from_pretrained(settings_for(places, device="cpu"))
    message = str(err.value)
    assert str(found) in message
    assert "not 501f0c75" in message and "was not loaded" in message and "Delete or replace it" in message
    assert midas.load_count() == loads


def test_small_wrong_file_says_it_is_too_small(places: dict[str, Path]) -> None:
    put(places["models"] / WEIGHTS_NAME, b"x" * 5000)
    with pytest.raises(WeightsError, match=r"only 0\.0 MiB, the published file is about 470 MiB"):
        resolve(None, (), models_dir=places["models"])


def test_verification_is_remembered(tmp_path: Path, midas_cache: Path) -> None:
    """Hashing 470 MiB takes a second: a good result is kept by (path, size, mtime) across starts."""
    data = b"weights that match their name"
    prefix = hashlib.sha256(data).hexdigest()[:8]
    path = put(tmp_path / f"model-{prefix}.pt", data)
    before = midas_weights.hash_count
    assert verify(path) is None
    assert midas_weights.hash_count == before + 1
    midas_weights._hashed.clear()  # a new process: only the state file remembers
    assert verify(path) is None
    assert midas_weights.hash_count == before + 1

    stat = path.stat()
    path.write_bytes(b"X" * len(data))  # same size ...
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # ... new mtime: hashed again
    problem = verify(path)
    assert problem is not None and f"not {prefix}" in problem
    assert midas_weights.hash_count == before + 2


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_folder(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on localhost: (folder, base URL)."""
    folder = tmp_path / "served"
    folder.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=folder))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_verifies_and_renames_into_place(tmp_path: Path, http_folder: tuple[Path, str]) -> None:
    served, base = http_folder
    data = os.urandom(3 * 2**20 + 123)
    name = f"weights-{hashlib.sha256(data).hexdigest()[:8]}.pt"
    put(served / name, data)
    seen: list[tuple[int, int | None]] = []
    target = tmp_path / "models"
    path = download(f"{base}/{name}", target, name, progress=lambda done, total: seen.append((done, total)))
    assert path == target / name and path.read_bytes() == data
    assert seen[-1] == (len(data), len(data)) and len(seen) >= 4  # progress per MiB, with the total
    assert sorted(p.name for p in target.iterdir()) == [name]  # no temporary file left


def test_downloaded_file_with_wrong_hash_is_deleted(places: dict[str, Path], http_folder: tuple[Path, str]) -> None:
    served, base = http_folder
    put(served / WEIGHTS_NAME, b"an HTML error page, say")
    settings = settings_for(places, allow_download=True, download_url=f"{base}/{WEIGHTS_NAME}")
    with pytest.raises(WeightsError, match="deleted, not loaded"):
        resolve(None, settings.search_dirs, True, settings.models_dir, settings.download_url, lambda d, t: None)
    assert list(places["models"].iterdir()) == []


def test_download_failure_still_says_where_to_put_the_file(
    places: dict[str, Path], http_folder: tuple[Path, str]
) -> None:
    _, base = http_folder
    url = f"{base}/missing/{WEIGHTS_NAME}"  # 404
    with pytest.raises(WeightsError) as err:
        resolve(None, (), True, places["models"], url, lambda d, t: None)
    message = str(err.value)
    assert "failed (HTTP Error 404" in message
    assert f"into {places['models']}" in message and str(places["hf"]) in message
    assert list(places["models"].iterdir()) == []


def test_settings_are_normalised_and_hashable() -> None:
    a = MidasSettings(search_dirs=["x", "y"], device="AUTO", precision="float16")
    b = MidasSettings(search_dirs=("x", "y"), device=None, precision="fp16")
    assert a == b and hash(a) == hash(b)
    with pytest.raises(DepthError, match="unknown precision"):
        MidasSettings(precision="fp8")
