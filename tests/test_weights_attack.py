"""Weights under attack: a checkpoint whose pickle runs code (a `__reduce__` that writes a file),
put everywhere weights are taken from. It is never executed (the file it would write never
appears) and the user gets one clear line naming the checkpoint.

Searched places take only the published name, verified by sha256 before torch sees the file;
explicit paths are loaded tensors-only; a verification remembered by (path, size, mtime), which an
attacker can keep, never licenses a full unpickle (the file is hashed again first).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from lib_depth import cli, midas
from lib_depth.midas import WEIGHTS_NAME, MidasEstimator, MidasSettings, WeightsError
from lib_depth.midas import weights as midas_weights
from lib_depth.midas.network import read_state_dict

FLAGS = ("--resolution", "64", "--device", "cpu", "--precision", "fp32")


class WritesAFile:
    """Unpickling this calls `exec`, which writes `marker`: what a malicious checkpoint does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


def malicious(path: Path, marker: Path, zip_format: bool = True) -> Path:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"model": WritesAFile(marker), "optimizer": None, "pos_embed": torch.zeros(4)}
    torch.save(payload, path, _use_new_zipfile_serialization=zip_format)
    return path


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    path = tmp_path / "PWNED"
    yield path
    assert not path.exists(), "the checkpoint's code ran"


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, midas_cache: Path) -> dict[str, Path]:
    folders = {name: tmp_path / name for name in ("models", "search", "hf")}
    for folder in folders.values():
        folder.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(folders["hf"]))
    monkeypatch.setattr(midas_weights, "EXTENSION_MODELS_DIR", folders["models"])
    return folders


def searching(places: dict[str, Path]) -> MidasSettings:
    return MidasSettings(search_dirs=(str(places["search"]),), models_dir=str(places["models"]), device="cpu")


@pytest.mark.parametrize("where", ["search", "search_midas", "models", "hf"])
def test_published_name_in_a_searched_place_is_refused_by_its_hash(
    places: dict[str, Path], marker: Path, where: str
) -> None:
    targets = {
        "search": places["search"] / WEIGHTS_NAME,
        "search_midas": places["search"] / "midas" / WEIGHTS_NAME,  # ControlNet's layout
        "models": places["models"] / WEIGHTS_NAME,
        "hf": places["hf"] / "models--lllyasviel--Annotators" / "snapshots" / "abc" / WEIGHTS_NAME,
    }
    evil = malicious(targets[where], marker)
    loads = midas.load_count()
    with pytest.raises(WeightsError) as err:
        MidasEstimator.from_pretrained(searching(places))
    message = str(err.value)
    assert message.startswith(f"{evil}: its sha256 is ") and "not 501f0c75" in message and "was not loaded" in message
    assert "\n" not in message and midas.load_count() == loads


def test_another_name_in_a_searched_place_is_not_even_opened(places: dict[str, Path], marker: Path) -> None:
    for name in ("dpt_hybrid-midas.pt", "dpt_hybrid-midas-501f0c76.pt", "midas/model.pt", "dpt_hybrid.pth"):
        malicious(places["search"] / name, marker)
    data = (places["search"] / "dpt_hybrid-midas.pt").read_bytes()
    own = places["search"] / f"dpt_hybrid-midas-{hashlib.sha256(data).hexdigest()[:8]}.pt"  # its own hash
    own.write_bytes(data)
    with pytest.raises(WeightsError, match=f"MiDaS weights {WEIGHTS_NAME} not found"):
        MidasEstimator.from_pretrained(searching(places))


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_explicit_path_is_loaded_tensors_only(
    tmp_path: Path, marker: Path, capsys: pytest.CaptureFixture, zip_format: bool
) -> None:
    """--weights (the CLI) names a file: trusted as the weights, never as code."""
    evil = malicious(tmp_path / "given" / WEIGHTS_NAME, marker, zip_format)
    picture = tmp_path / "photo.png"
    cv2.imwrite(str(picture), np.full((40, 40, 3), 100, np.uint8))
    for weights in (evil, evil.parent):  # the file, or its folder
        assert cli.main([str(picture), "--weights", str(weights), *FLAGS]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert err.startswith(f"error: {evil}: this checkpoint holds Python objects besides tensors "
                              "(it calls exec)")
        assert "is never unpickled (that could run code)" in err
    assert not list(tmp_path.glob("photo.*.png"))


def test_webui_weights_folder_setting(make_webui, tmp_path: Path, marker: Path) -> None:
    """The WebUI's "Depth model weights folder" setting: the preprocessor answers 503 with the reason."""
    from lib_depth.webui.preprocessors import PreprocessorError

    evil = malicious(tmp_path / "configured" / "midas" / WEIGHTS_NAME, marker)
    webui = make_webui("controlnet", depth_tools_weights_dir=str(tmp_path / "configured"), depth_tools_device="cpu",
                       depth_tools_allow_download=False)
    with pytest.raises(PreprocessorError) as err:
        webui.call("depth_tools_midas", np.zeros((32, 32, 3), np.uint8), 64, 0.1)
    assert err.value.status_code == 503 and str(evil) in str(err.value) and "never unpickled" in str(err.value)


def test_a_spoofed_remembered_verification_is_hashed_again(tmp_path: Path, marker: Path, midas_cache: Path) -> None:
    """Whoever can write a verified file can keep its size and mtime: the cache then still says
    "verified". Before a full unpickle the file is hashed again, so the swap is caught."""
    evil_bytes = malicious(tmp_path / "evil.pt", marker).read_bytes()
    benign = os.urandom(len(evil_bytes))
    path = tmp_path / f"weights-{hashlib.sha256(benign).hexdigest()[:8]}.pt"
    path.write_bytes(benign)
    assert midas_weights.verify(path) is None  # verified and remembered
    stat = path.stat()
    path.write_bytes(evil_bytes)  # same size ...
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ... same mtime
    assert midas_weights.verify(path) is None  # the attack's premise: the remembered result is reused
    with pytest.raises(WeightsError, match="no longer matches the one verified earlier") as err:
        read_state_dict(path, verified=True)
    assert "never unpickled" in str(err.value) and err.value.path == str(path)
