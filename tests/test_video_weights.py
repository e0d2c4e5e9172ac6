"""Video Depth Anything's weights (`images/video_weights.py`): only Small is ever downloaded, from
`HF_ENDPOINT` (the tests' stand-in hub), and it appears only with the published sha256; a found file
of Small's name must have that sha256; a file the user names is trusted. The published file cannot
be served here, so the positive download path serves random weights and records their digest as the
published one (the one substitution: everything else is the real download, hash and load)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from lib_depth.images import registry, video_weights
from lib_depth.images.registry import ModelSettings
from lib_depth.network_base.weights import WeightsError
from tests.anything_support import save_pth
from tests.hub import Hub
from tests.video_support import video_state_dict

SMALL_PATH = "/depth-anything/Video-Depth-Anything-Small/resolve/main/video_depth_anything_vits.pth"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Hub:
    served = Hub()
    monkeypatch.setenv("HF_ENDPOINT", served.url)
    yield served
    served.close()


@pytest.fixture(scope="module")
def small_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return save_pth(tmp_path_factory.mktemp("vda") / "s.pth", video_state_dict("vits")).read_bytes()


def test_a_download_that_is_not_the_published_file_is_deleted(tmp_path: Path, hub: Hub) -> None:
    hub.files[SMALL_PATH] = b"not the weights\n" * 1000
    settings = ModelSettings(allow_download=True, models_dir=str(tmp_path / "own"))
    with pytest.raises(WeightsError, match="deleted, not loaded") as raised:
        registry.entry("video-depth-anything").load(settings, None)
    assert "\n" not in str(raised.value) and hub.asked == [SMALL_PATH]
    assert not any((tmp_path / "own").rglob("*"))  # no half file, no wrong file


def test_the_published_small_is_downloaded_once_and_loaded(tmp_path: Path, hub: Hub, small_bytes: bytes,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    digest = hashlib.sha256(small_bytes).hexdigest()
    monkeypatch.setattr(video_weights, "SMALL_SHA256", digest)
    monkeypatch.setitem(video_weights.PUBLISHED_SHA256, video_weights.SMALL_NAME, digest)
    hub.files[SMALL_PATH] = small_bytes
    settings = ModelSettings(allow_download=True, models_dir=str(tmp_path / "own"), device="cpu")
    entry = registry.entry("video-depth-anything")
    try:
        estimator = entry.load(settings, None)
        assert estimator.config.encoder == "vits" and hub.asked == [SMALL_PATH]
        assert (tmp_path / "own" / video_weights.SMALL_NAME).read_bytes() == small_bytes
        entry.release(True)
        entry.load(settings, None)  # found now, verified, not fetched again
        assert hub.asked == [SMALL_PATH]
    finally:
        entry.release(True)


def test_a_found_small_that_is_not_the_published_file_is_refused_but_a_named_one_is_trusted(
        tmp_path: Path, small_bytes: bytes) -> None:
    found = tmp_path / "models" / video_weights.SMALL_NAME
    found.parent.mkdir()
    found.write_bytes(small_bytes)
    entry = registry.entry("video-depth-anything")
    searched = ModelSettings(search_dirs=(str(found.parent),), models_dir=str(tmp_path / "own"), device="cpu")
    with pytest.raises(WeightsError, match=re.escape("not 13379300... of the published")) as raised:
        entry.load(searched, None)
    assert str(found) in str(raised.value) and "\n" not in str(raised.value)
    try:
        assert entry.load(ModelSettings(weights=str(found), device="cpu"), None).config.encoder == "vits"
    finally:
        entry.release(True)


def test_large_is_never_downloaded(tmp_path: Path, hub: Hub) -> None:
    """Only Small's path is ever asked for, whatever the search found or not."""
    settings = ModelSettings(allow_download=True, models_dir=str(tmp_path / "own"))
    with pytest.raises(WeightsError, match=re.escape("CC-BY-NC-4.0: never downloaded")):
        registry.entry("video-depth-anything").load(settings, None)
    assert hub.asked == [SMALL_PATH]
